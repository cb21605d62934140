"""One PDF from typeset pieces (pypdf): their pages in order with their bookmarks and anchors, the page numbers
"n / N" of a footer document laid over every page, and the links one piece makes into another (the template
writes them as piece:<anchor>) turned into jumps inside the file."""
import os
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, TextStringObject

PIECE = "piece:"


def page_count(path: Path) -> int:
    return len(PdfReader(path).pages)


def assemble(parts: list[Path], footer: Path, target: Path) -> Path:
    writer = PdfWriter()
    anchors: set[str] = set()
    for part in parts:
        reader = PdfReader(part)
        anchors |= set(reader.named_destinations)
        writer.append(reader, import_outline=True)
    numbers = PdfReader(footer).pages
    if len(numbers) != len(writer.pages):
        raise ValueError(f"{footer}: {len(numbers)} page numbers for {len(writer.pages)} pages")
    for i, (page, number) in enumerate(zip(writer.pages, numbers)):
        stamp(writer, page, [(NameObject(f"/PageNumber{i}"), form(writer, number), "")])
        _link_pieces(page, anchors, target)
    first = PdfReader(parts[0])
    if first.metadata:
        writer.add_metadata({k: v for k, v in first.metadata.items() if k in ("/Title", "/Creator", "/Producer")})
    if "/Lang" in first.root_object:
        writer.root_object[NameObject("/Lang")] = TextStringObject(first.root_object["/Lang"])
    part = target.with_name(target.name + ".part")  # never a half-written file under the cache's name
    with open(part, "wb") as f:
        writer.write(f)
    os.replace(part, target)
    return target


def _stream(writer, data: bytes):
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def form(writer, layer):
    """`layer` (a page of another PDF) as a form XObject of `writer`, compressed, with its own resources."""
    stream = DecodedStreamObject()
    stream.set_data(layer.get_contents().get_data())
    stream.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                   NameObject("/BBox"): ArrayObject(layer.mediabox),
                   NameObject("/Resources"): layer["/Resources"].clone(writer)})
    return writer._add_object(stream.flate_encode())


def stamp(writer, page, layers: list[tuple[NameObject, object, str]]):
    """Draw forms over `page`, each (resource name, form, its placement as a PDF `cm` operator or ""). The
    page's own, large content streams are referenced, never decoded or re-encoded (pypdf's merge_page would
    write them out uncompressed, 7x the file size), and no resource name of the two can clash."""
    resources = page["/Resources"].get_object()
    if "/XObject" not in resources:
        resources[NameObject("/XObject")] = DictionaryObject()
    for name, layer, _ in layers:
        resources["/XObject"].get_object()[name] = layer
    draw = b"".join(f"q {cm} ".encode() + name.encode() + b" Do Q\n" for name, _, cm in layers)
    own = page.raw_get("/Contents")  # the reference, not the stream it names (a stream is never inlined)
    own = list(own.get_object()) if isinstance(own.get_object(), ArrayObject) else [own]
    page[NameObject("/Contents")] = ArrayObject([_stream(writer, b"q\n"), *own, _stream(writer, b"\nQ\n" + draw)])


def _link_pieces(page, anchors: set[str], target: Path):
    for annot in page.get("/Annots") or []:
        annot = annot.get_object()
        uri = str((annot.get("/A") or {}).get("/URI", ""))
        if not uri.startswith(PIECE):
            continue
        anchor = uri[len(PIECE):]
        if anchor not in anchors:
            raise ValueError(f"{target}: a link to #{anchor}, which no piece of this PDF holds")
        del annot["/A"]
        annot[NameObject("/Dest")] = TextStringObject(anchor)
