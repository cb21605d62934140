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
        _stamp(writer, page, number, NameObject(f"/PageNumber{i}"))
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


def _stream(writer, data: bytes, **entries):
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream.update({NameObject("/" + k): v for k, v in entries.items()})
    return writer._add_object(stream)


def _stamp(writer, page, layer, name: NameObject):
    """Draw `layer` (a page of the footer document) over `page` as a form with its own resources: the page's
    own, large content streams are referenced, never decoded or re-encoded (pypdf's merge_page would write
    them out uncompressed, 7x the file size), and no resource name of the two can clash."""
    form = _stream(writer, layer.get_contents().get_data(), Type=NameObject("/XObject"),
                   Subtype=NameObject("/Form"), BBox=ArrayObject(layer.mediabox),
                   Resources=layer["/Resources"].clone(writer))
    resources = page["/Resources"].get_object()
    if "/XObject" not in resources:
        resources[NameObject("/XObject")] = DictionaryObject()
    resources["/XObject"].get_object()[name] = form
    own = page.raw_get("/Contents")  # the reference, not the stream it names (a stream is never inlined)
    own = list(own.get_object()) if isinstance(own.get_object(), ArrayObject) else [own]
    page[NameObject("/Contents")] = ArrayObject([_stream(writer, b"q\n"), *own,
                                                 _stream(writer, b"\nQ q " + name.encode() + b" Do Q\n")])


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
