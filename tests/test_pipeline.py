"""End to end, for real: papermill executes the notebook under `smoke` into a temporary SQLite MLflow store,
the reports render in both languages as HTML and PDF, a second run is served from the cache, and a failing
notebook fails only its own run."""
import json
import re
from pathlib import Path

from mlflow.tracking import MlflowClient
from pypdf import PdfReader

from study import cli, tracking
from study.runner import NOTEBOOKS
from study.studies import registry

STUDY = "depth_gradient"


def runs(study=STUDY):
    c = tracking.client()
    exp = c.get_experiment_by_name(tracking.experiment_name())
    return c.search_runs([exp.experiment_id], f"tags.study = '{study}'")


def test_report_runs_the_notebook_and_logs_everything_to_mlflow(in_smoke):
    root, code = in_smoke
    assert code == 0
    (run,) = runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["profile"] == "smoke" and run.data.tags["cache_key"]
    assert json.loads(run.data.params["depths"]) == [1, 3]
    c = MlflowClient(tracking.tracking_uri())
    names = {a.path for folder in ("tables", "notebook", "figures") for a in c.list_artifacts(run.info.run_id, folder)}
    assert {"tables/members.csv", "tables/layers.csv", "tables/history.csv", "notebook/depth_gradient.ipynb"} <= names
    assert any(n.startswith("figures/") and n.endswith(".png") for n in names)
    # each grid configuration is a child run with its own metric history, so the UI can compare them
    (child,) = c.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}' and "
                                                       "tags.config = 'relu-he-d3'")
    assert child.info.status == "FINISHED" and child.data.tags["parent_study"] == STUDY
    assert [m.step for m in c.get_metric_history(child.info.run_id, "val_acc")] == [1, 2]  # logged in batches
    # MLflow's own fields are filled: source, commit, user, description, and the data as a dataset input
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "NOTEBOOK" and tags["mlflow.source.git.commit"] == tags["git_commit"]
    assert tags["mlflow.user"] and "Verdicts: C1 " in tags["mlflow.note.content"]
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["digits"]
    assert "notebook/depth_gradient.html" in {a.path for a in c.list_artifacts(run.info.run_id, "notebook")}
    verdicts = tracking.read_json(run.info.run_id, "claims.json")
    assert [v["claim"] for v in verdicts] == ["C1", "C2", "C3", "C4"]
    c1 = verdicts[0]
    assert c1["verdict"] == "supported" and abs(c1["numbers"]["max_derivative"] - 0.25) < 1e-9
    # the executed notebook holds the study's output, not just the injected parameters
    nb = json.loads((root / "reports" / "notebooks" / "depth_gradient.ipynb").read_text())
    text = json.dumps(nb["cells"])
    assert "injected-parameters" in text and "seeds = 2" in text and "C1 [" not in text  # no answers given away


def test_html_reports_are_self_contained_and_complete(in_smoke):
    root, _ = in_smoke
    for lang, heading in (("ja", "層の深さと勾配消失"), ("en", "Depth and the vanishing gradient")):
        html = (root / "reports" / lang / "index.html").read_text(encoding="utf-8")
        assert html == (root / "reports" / lang / "instructor.html").read_text(encoding="utf-8")
        assert heading in html and f'id="{STUDY}"' in html
        sections = dict(re.findall(r'<section class="study" id="([\w-]+)">(.*?)</section>', html, re.S))
        assert set(sections) == {*registry(), "chapter-questions"}  # every study, none failed in smoke
        for name in sections:
            assert "failure" not in sections[name], name
        for name in ("depth_gradient", "dropout_bn"):
            assert len(re.findall(r'<img src="\.\./figures/\w+\.svg"', sections[name])) == 4, name
        # nothing is fetched from elsewhere: no script or stylesheet link, and every image and font is a file
        # of the report folder (figures and the font subset are shared by all pages)
        assert not re.search(r'<(link|script)\b', html) and "@import" not in html
        local = re.findall(r'(?:src|srcset)="([^"]+)"', html) + re.findall(r'url\("([^"]+)"\)', html)
        assert local and "../assets/ipaexg-subset.ttf" in local
        for ref in local:
            assert not re.match(r"[a-z]+:", ref), ref
            assert (root / "reports" / lang / ref).resolve().is_file(), ref
        for claim in ("C1", "C2", "C3", "C4"):
            assert f"<th>{claim}</th>" in html
        assert runs()[0].info.run_id in html  # provenance links the run


def test_pdf_reports_embed_a_japanese_font_and_carry_the_verdicts(in_smoke):
    root, _ = in_smoke
    ja = PdfReader(root / "reports" / "ja" / "report.pdf")
    text = "".join(p.extract_text() for p in ja.pages)
    assert "層の深さと勾配消失" in text and "判定" in text
    assert re.search(r"C1\s*支持", text)
    fonts = set()
    for page in ja.pages:
        for f in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(f.get_object()["/BaseFont"]))
    assert any("IPAexGothic" in f for f in fonts), fonts
    en = "".join(p.extract_text() for p in PdfReader(root / "reports" / "en" / "report.pdf").pages)
    assert "Verdicts" in en and re.search(r"C1\s*supported", en)


def test_figures_have_every_glyph(in_smoke):
    from study.report.render import render

    made = render("smoke", Path("reports-again"), pdf=False)
    assert made["warnings"] == []


def test_second_run_is_served_from_the_cache(in_smoke, capsys):
    assert cli.main(["run", "--profile", "smoke"]) == 0
    assert "unchanged, using cached run" in capsys.readouterr().out
    assert len(runs()) == 1


def test_the_studies_that_took_longest_start_first(in_smoke):
    from study.config import load_profile
    from study.runner import longest_first, plan

    order = longest_first(plan(load_profile("smoke"), force=True), "smoke")
    seconds = [tracking.latest_run(j.study, "smoke").data.metrics["wall_seconds"] for j in order]
    assert len(seconds) == len(registry()) and seconds == sorted(seconds, reverse=True)


def test_render_only_needs_mlflow(in_smoke):
    root, _ = in_smoke
    assert cli.main(["render", "--profile", "smoke", "--no-pdf", "--out", "rendered-again"]) == 0
    for lang in ("ja", "en"):
        for edition in ("student", "instructor"):
            assert "<figure>" in (root / "rendered-again" / lang / f"{edition}.html").read_text(encoding="utf-8")
    assert len(runs()) == 1


def test_a_failing_notebook_fails_its_run_only_and_shows_in_the_report(store):
    nb = json.loads((NOTEBOOKS / f"{STUDY}.ipynb").read_text())
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": ["raise RuntimeError('the <b>broken</b> study')"]})
    broken = store / "broken"
    broken.mkdir()
    (broken / f"{STUDY}.ipynb").write_text(json.dumps(nb))
    (store / "one.yaml").write_text("studies:\n  depth_gradient:\n    depths: [1]\n    epochs: 1\n")
    code = cli.main(["report", "--profile", str(store / "one.yaml"), "--notebooks", str(broken), "--no-pdf"])
    assert code == 1
    (run,) = runs()
    assert run.info.status == "FAILED"
    assert "RuntimeError" in run.data.tags["error"]
    assert "\x1b[" not in run.data.tags["error"]  # plain text, not IPython's terminal colours
    html = (store / "reports" / "en" / "index.html").read_text()
    assert 'class="box failure"' in html
    assert "the &lt;b&gt;broken&lt;/b&gt; study" in html  # escaped, shown as text
    assert "notebook/depth_gradient.ipynb" in html


def test_one_study_run_alone_with_an_override_keeps_the_others_in_the_reports(in_smoke, tmp_path, monkeypatch):
    """`study report cnn_vs_mlp --set cnn_vs_mlp.seeds=3` runs that study only; the reports still show every
    other study's latest run (a copy of the smoke store, so the shared one is not changed)."""
    import shutil

    root, _ = in_smoke
    shutil.copy(root / "mlflow.db", tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    before = {name: tracking.latest_run(name, "smoke").info.run_id for name in registry()}
    assert cli.main(["report", "cnn_vs_mlp", "--profile", "smoke", "--set", "cnn_vs_mlp.seeds=3", "--no-pdf"]) == 0
    after = {name: tracking.latest_run(name, "smoke").info.run_id for name in registry()}
    assert after["cnn_vs_mlp"] != before["cnn_vs_mlp"]
    assert {k: v for k, v in after.items() if k != "cnn_vs_mlp"} == {k: v for k, v in before.items() if k != "cnn_vs_mlp"}
    run = tracking.client().get_run(after["cnn_vs_mlp"])
    assert json.loads(run.data.params["seeds"]) == 3
    html = (tmp_path / "reports" / "en" / "instructor.html").read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section class="study" id="([\w-]+)">(.*?)</section>', html, re.S))
    assert set(registry()) <= set(sections)
    for name, run_id in after.items():
        assert run_id in sections[name], name
