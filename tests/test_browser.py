"""The reports and the MLflow UI in a real headless Chromium (Debian's `chromium`, driven by playwright).

Skipped, with the reason, where Chromium is not installed; `.ci/run` installs it so CI runs these."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from study import tracking

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The flags the machine's own browser probe uses: no background traffic on a closed network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def open_page(browser, url):
    """Open url; return (page, console errors, requests that left the file, failed requests)."""
    page = browser.new_page()
    errors, external, failed = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(url, wait_until="load")
    return page, errors, external, failed


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("edition", ["student", "instructor"])
def test_each_report_page_opens_cleanly_offline(browser, in_smoke, lang, edition):
    root, _ = in_smoke
    page, errors, external, failed = open_page(browser, (root / "reports" / lang / f"{edition}.html").as_uri())
    assert errors == [] and external == [] and failed == []
    images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(images) == page.content().count("<img ") >= 8
    assert all(ok and width > 0 for ok, width in images)
    assert page.evaluate("document.documentElement.lang") == lang
    # the Japanese font travels inside the page, so Japanese reads the same on a machine without one
    assert page.evaluate("document.fonts.ready.then(() => document.fonts.check('16px IPAexGothic', '層'))")
    headings = page.evaluate("Array.from(document.querySelectorAll('h1, h2, h3')).map(h => h.innerText)")
    assert headings
    if lang == "ja":
        assert all(CJK.search(h) for h in headings), headings
    else:
        assert not any(CJK.search(h) for h in headings), headings
    # nothing overflows the page sideways (a wide table would make students scroll)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_handouts_open_cleanly_fit_a_phone_and_take_typed_answers(browser, in_smoke, lang):
    root, _ = in_smoke
    from study.studies import registry

    for name in registry():
        for edition in ("student", "instructor"):
            page, errors, external, failed = open_page(browser, (root / "reports" / lang / name / f"{edition}.html")
                                                       .as_uri())
            assert errors == [] and external == [] and failed == [], (name, edition)
            assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            page.close()
    # a phone: 390 px wide; wide tables scroll inside their own box, the page never scrolls sideways
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto((root / "reports" / lang / "instructor.html").as_uri(), wait_until="load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    boxes = page.evaluate("Array.from(document.querySelectorAll('table')).map(t => "
                          "[t.closest('.scroll') !== null, t.getBoundingClientRect().width <= window.innerWidth + 1])")
    assert boxes and all(scrolls or fits for scrolls, fits in boxes)
    page.close()
    page = browser.new_page()
    page.goto((root / "reports" / lang / "cnn_vs_mlp" / "student.html").as_uri(), wait_until="load")
    box = page.locator(".answer").first
    box.click()
    page.keyboard.type("pooling")
    assert box.inner_text() == "pooling"
    back = page.locator("a[href='../student.html']").first  # from a handout to the combined worksheet
    assert back.count() == 1
    page.close()


def test_index_page_links_every_edition(browser, in_smoke):
    root, _ = in_smoke
    page, errors, external, failed = open_page(browser, (root / "reports" / "index.html").as_uri())
    links = page.evaluate("Array.from(document.links).map(a => a.getAttribute('href'))")
    assert {"ja/student.html", "ja/instructor.html", "en/student.html", "en/instructor.pdf"} <= set(links)
    assert errors == [] and external == [] and failed == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_ui_opens_on_the_runs_table_and_shows_a_runs_figures_and_notebook(browser, in_smoke):
    root, _ = in_smoke
    (run,) = tracking.client().search_runs([tracking.ensure_store()], "tags.study = 'cnn_vs_mlp'")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "study.cli", "ui", "--port", str(port)], cwd=root,
                              env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              start_new_session=True, text=True)
    try:
        url = server.stdout.readline().split(": ", 1)[1].split()[0]  # the address `make ui` prints
        assert url == f"http://127.0.0.1:{port}/#/experiments/{run.info.experiment_id}/runs?workflowType=machine_learning"
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the MLflow UI did not start within 90 s")
        page = browser.new_page()
        page.goto(url, wait_until="load")
        # the runs table of the experiment, without a detour through the GenAI pages
        page.get_by_text("cnn_vs_mlp · smoke").first.wait_for(timeout=60_000)
        assert page.get_by_text("Detect issues").count() == 0
        assert "workflowType=machine_learning" in page.url and "/runs" in page.url
        # a report's run link opens the run; its figures carry names and captions, its notebook reads as HTML
        page.goto(f"http://127.0.0.1:{port}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}/artifacts"
                  f"{tracking.UI_QUERY}", wait_until="load")
        for name in ("figures", "notebook", "tables"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("figures", exact=True).first.click()
        page.get_by_text("accuracy.png").first.wait_for(timeout=30_000)
        page.get_by_text("accuracy.txt").first.wait_for(timeout=30_000)
        page.get_by_text("notebook", exact=True).first.click()
        page.get_by_text("cnn_vs_mlp.html").first.wait_for(timeout=30_000)
        page.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the UI server and its workers
        server.wait(timeout=20)
