"""Content-addressed caches that make a re-render cheap: figures keyed by (run, language, figure, the code and
words that draw it), PDFs keyed by their HTML. A warm `make report` draws and typesets only what changed."""
import hashlib
import io
import json
import shutil
from pathlib import Path

import matplotlib

HERE = Path(__file__).parent


def digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def code_digest(*files: Path) -> str:
    return digest(*(Path(f).read_bytes() for f in files))


class FigureStore:
    """SVG files under `folder` (the report's shared figures/), named by their key. `get` draws a figure only
    when no file with its key exists yet; `used` says which to keep."""

    def __init__(self, folder: Path, previous: Path | None = None):
        self.folder, self.previous = folder, previous
        self.folder.mkdir(parents=True, exist_ok=True)
        self.used: set[str] = set()
        self.drawn = self.reused = 0

    def get(self, key: str, draw) -> str | None:
        """The file name of the figure with this key (drawn if needed), or None when `draw` returns None."""
        name = f"{key}.svg"
        target = self.folder / name
        if not target.exists() and self.previous and (self.previous / name).exists():
            shutil.copyfile(self.previous / name, target)
        if (self.folder / f"{key}.none").exists() or (self.previous and (self.previous / f"{key}.none").exists()):
            return None
        if target.exists():
            self.reused += 1
        else:
            fig = draw()
            if fig is None:
                (self.folder / f"{key}.none").touch()
                return None
            target.write_bytes(svg(fig))
            self.drawn += 1
        self.used.add(name)
        return name


def svg(fig) -> bytes:
    """A vector figure; text is drawn as paths, so no font is needed to view it; no date in the file, so the same
    figure gives the same bytes."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def figure_key(run_id: str, lang: str, name: str, code: str, labels: dict) -> str:
    return digest(run_id, lang, name, code, json.dumps(labels, sort_keys=True, default=str), matplotlib.__version__)


class PdfStore:
    """Typeset PDFs under `folder`, named by a digest of their HTML (and the figures it names, which are
    content-addressed too), so an unchanged page is copied, not typeset again."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def key(self, html: str) -> str:
        import weasyprint

        return digest(html, weasyprint.__version__, code_digest(HERE / "pdf.py"))

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pdf"

    def prune(self, keep: set[str]):
        for f in self.folder.glob("*.pdf"):
            if f.stem not in keep:
                f.unlink()
