"""PDFs put together from typeset pieces: pages in order, "n / N" on each, links between pieces that jump."""
import re

import pytest
from pypdf import PdfReader

from study.report.assemble import assemble
from study.report.cache import PdfStore
from study.report.pdf import write_pdf
from study.report.printing import Printer

CSS = "@page { size: A4; @bottom-center { content: counter(page) ' / ' counter(pages); } }"
PIECE = "<html><body>{}</body></html>"


def typeset(tmp_path, name, body):
    return write_pdf(PIECE.format(body), tmp_path / f"{name}.pdf", tmp_path.as_uri() + "/")


def test_pieces_become_one_numbered_pdf_whose_links_jump_between_them(tmp_path):
    front = typeset(tmp_path, "front", '<h1>Front</h1><a href="piece:second">to the second piece</a>')
    first = typeset(tmp_path, "first", '<h2>First</h2><p style="break-after: page">one</p><p>two</p>')
    second = typeset(tmp_path, "second", '<h2 id="second">Second</h2><a href="https://example.org/">out</a>')
    printer = Printer(PdfStore(tmp_path / "cache"), CSS)
    footer = printer.footers({4})[4]
    out = assemble([front, first, second], footer, tmp_path / "book.pdf")

    reader = PdfReader(out)
    texts = [p.extract_text() for p in reader.pages]
    assert len(texts) == 4
    assert all(re.search(rf"\b{i} / 4\b", t) for i, t in enumerate(texts, 1)), texts
    assert "Second" in texts[3] and "two" in texts[2]
    jump = [a.get_object() for a in reader.pages[0]["/Annots"]][0]
    assert "/A" not in jump and reader.get_destination_page_number(reader.named_destinations[jump["/Dest"]]) == 3
    outward = [a.get_object()["/A"]["/URI"] for a in reader.pages[3]["/Annots"]]
    assert outward == ["https://example.org/"]
    assert [o.title for o in reader.outline if not isinstance(o, list)] == ["Front", "First", "Second"]


def test_a_link_to_no_piece_of_the_pdf_is_an_error_not_a_dead_link(tmp_path):
    front = typeset(tmp_path, "front", '<a href="piece:nowhere">lost</a>')
    footer = Printer(PdfStore(tmp_path / "cache"), CSS).footers({1})[1]
    with pytest.raises(ValueError, match="#nowhere"):
        assemble([front], footer, tmp_path / "book.pdf")
    assert not (tmp_path / "book.pdf").exists()


def test_the_footer_layer_has_one_page_per_page_number(tmp_path):
    printer = Printer(PdfStore(tmp_path / "cache"), CSS)
    for n, path in printer.footers({1, 7}).items():
        assert len(PdfReader(path).pages) == n
