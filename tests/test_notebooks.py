"""The study notebooks follow papermill's convention: one parameter per variable, the study's own defaults,
checked as a profile is; they are committed without outputs."""
import json
import subprocess
import sys

import pytest

from study.notebook import NOTEBOOKS, parameters_cell
from study.studies import registry


@pytest.mark.parametrize("name", list(registry()))
def test_the_parameters_cell_lists_every_parameter_with_the_studys_default(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1
    assert "".join(cells[0]["source"]) == parameters_cell(registry()[name]), \
        f"run `python -m study.notebook {name}` to rewrite the parameters cell"
    assert all(not c.get("outputs") for c in nb["cells"])


def test_papermill_p_sets_one_parameter_and_bad_values_are_refused(store):
    """`papermill nb out -p seeds 2 -p epochs 1 ...` runs the study; a value out of range stops before it runs
    with the notebook, the key, the value and what is allowed."""
    nb = NOTEBOOKS / "cnn_vs_mlp.ipynb"
    small = ["-p", "seeds", "2", "-p", "epochs", "1", "-p", "canvas", "False", "-p", "tune_seeds", "1",
             "-y", "lrs: [0.01]\ncnn_channels: [2, 4]"]
    out = store / "out.ipynb"
    ok = subprocess.run([sys.executable, "-m", "papermill", str(nb), str(out), *small, "--kernel", "python3"],
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-2000:]
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "seeds = 2" in text and "Figure size" not in text  # figures inline as SVG, not a text repr
    assert "image/svg+xml" in text and "C19 [" not in text  # no verdicts unless asked
    bad = subprocess.run([sys.executable, "-m", "papermill", str(nb), str(store / "bad.ipynb"), "-p", "seeds",
                          "1", "--kernel", "python3"], capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0
    assert "cnn_vs_mlp.ipynb parameters.seeds: 1 is not allowed; allowed: >= 2 and <= 100" in bad.stderr + bad.stdout
