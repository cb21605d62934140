"""Content-addressed caches that make a re-render cheap: a run's named facts keyed by (run, the code that
computes them), figures keyed by (run, language, figure, the code and words that draw it), PDFs keyed by what
made them. A warm `make report` computes, draws and typesets only what changed."""
import hashlib
import io
import json
import os
import pickle
import shutil
from importlib.metadata import version
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


class FactStore:
    """Results of pure functions of a run's logged tables (a run's tables never change: its facts, its result
    tables per language) and of the pages' characters (the font subset), pickled under `folder` by key. `get`
    computes only on a miss; `prune` drops the entries this render did not ask for."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.used: set[str] = set()

    def get(self, key: str, compute):
        path = self.folder / f"{key}.pickle"
        self.used.add(path.name)
        if path.exists():
            try:
                return pickle.loads(path.read_bytes())
            except Exception:  # a damaged or foreign entry is computed again
                pass
        value = compute()
        part = path.with_name(path.name + ".part")
        part.write_bytes(pickle.dumps(value))
        os.replace(part, path)
        return value

    def prune(self):
        for f in self.folder.iterdir():
            if f.name not in self.used:
                f.unlink()


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
    """PDFs under `folder`, named by a digest of what made them: a typeset piece by its HTML (and the figures
    it names, which are content-addressed too), an assembled one by its pieces. An unchanged one is copied,
    not made again."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.code = code_digest(HERE / "pdf.py", HERE / "overlay.py", HERE / "assemble.py")

    def key(self, html: str, *more) -> str:
        return digest(html, *more, version("weasyprint"), version("pypdf"), self.code)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pdf"

    def prune(self, keep: set[str]):
        for f in self.folder.glob("*.pdf*"):  # and any *.pdf.part a killed render left
            if f.name != f"{f.stem}.pdf" or f.stem not in keep:
                f.unlink()
