"""The dashboard on loopback: its JSON API over hand-built and real stores, path traversal,
a store that grows while served, and the pages in a real headless Chromium."""
from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from analysis_fixtures import gru_sweep, imdb_sweep
from sweeplab.cli import main
from sweeplab.dashboard.server import Background, host_warning

ARTIFACTS = Path(os.environ.get("SWEEPLAB_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


class Served(Background):
    def get(self, path):
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, path):
        status, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)


@pytest.fixture
def served(tmp_path):
    servers = []

    def start(*roots):
        servers.append(Served(list(roots)))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_api_lists_sweeps_and_serves_trials_history_and_curves(tmp_path, served):
    gru_sweep(tmp_path / "store" / "gru")
    imdb_sweep(tmp_path / "store" / "imdb")
    app = served(tmp_path / "store")
    sweeps = {s["id"]: s for s in app.json("/api/sweeps")}
    assert set(sweeps) == {"gru", "imdb"}
    gru = sweeps["gru"]
    assert (gru["experiment"], gru["metric"], gru["scheduler"], gru["searcher"], gru["state"]) == \
        ("seqclf", "val_macro_f1", "asha", "optuna", "done")
    assert gru["trials"] == {"total": 6, "running": 0, "done": 6, "stopped": 0, "failed": 0, "interrupted": 0}
    assert gru["best"] == {"trial_id": "gru6", "label": "GRU (original)", "value": 0.92}
    assert gru["trial_hours"] == 1.0
    trials = app.json("/api/sweeps/gru/trials")
    assert [r["label"] for r in trials["rows"]] == ["GRU (original)", "GRU (run #1)", "GRU (run #2)", "GRU (run #3)",
                                                   "GRU (run #5)", "GRU (run #4)"]
    assert [r["baseline"] for r in trials["rows"]] == [True] + [False] * 5
    assert trials["rows"][-1]["observations"][0].startswith("unstable training: val_macro_f1 0.180 far from")
    assert trials["rows"][0]["config"] == {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.001}
    assert trials["chosen"]["trial_id"] == "gru6" and "hidden_dim: 64" in trials["chosen"]["yaml"]
    assert trials["conclusions"][0].startswith("No configuration beat the baseline GRU (original)")
    history = app.json("/api/sweeps/imdb/history/imdb1")
    rows = [dict(zip(history["columns"], r)) for r in history["rows"]]
    assert [r["val_accuracy"] for r in rows][:3] == [0.8571, 0.8721, 0.8882] and len(rows) == 10
    assert rows[0]["test_accuracy"] is None  # NaN is null, never a bare NaN in the JSON
    curves = app.json("/api/sweeps/imdb/curves")
    assert curves["trials"][0]["x"] == list(range(1, 11)) and curves["trials"][0]["y"][2] == 0.8882
    assert app.get("/api/sweeps/nope")[0] == 404
    assert app.get("/api/sweeps/gru/history/nope")[0] == 404
    status, page = app.get("/sweep/gru")
    assert status == 200 and b'src="/static/app.js"' in page
    assert app.get("/static/plotly.min.js")[1].startswith(b"/**") and app.get("/sweep/nope")[0] == 404


def test_files_cannot_escape_the_sweep_folder(tmp_path, served):
    sweep = gru_sweep(tmp_path / "store" / "gru")
    (sweep / "report").mkdir()
    (sweep / "report" / "REPORT.md").write_text("# the report")
    (tmp_path / "store" / "secret.txt").write_text("secret")
    (sweep / "link").symlink_to(tmp_path / "store" / "secret.txt")
    app = served(tmp_path / "store")
    assert app.get("/files/gru/report/REPORT.md") == (200, b"# the report")
    for path in ["/files/gru/../secret.txt", "/files/gru/..%2Fsecret.txt", "/files/gru/%2E%2E/%2E%2E/etc/passwd",
                 "/files/gru//etc/passwd", "/files/gru/%2Fetc%2Fpasswd", "/files/gru/link", "/files/gru/",
                 "/files/gru/report/..%2F..%2Fsecret.txt", "/files/nope/trials.parquet"]:
        status, body = app.get(path)
        assert status == 404 and b"secret" not in body and b"root:" not in body, path


def test_a_store_that_grows_while_served_shows_its_new_rows(tmp_path, served):
    sweep = gru_sweep(tmp_path / "store" / "gru")
    trials = pd.read_parquet(sweep / "trials.parquet")
    trials.loc[5, "status"] = "RUNNING"
    trials.iloc[:4].to_parquet(sweep / "trials.parquet", index=False)
    app = served(tmp_path / "store")
    assert len(app.json("/api/sweeps/gru/trials")["rows"]) == 4
    time.sleep(0.01)
    trials.to_parquet(sweep / "trials.parquet", index=False)  # what the store callback does
    assert len(app.json("/api/sweeps/gru/trials")["rows"]) == 6
    summary = app.json("/api/sweeps/gru")
    assert summary["state"] == "running" and summary["trials"]["running"] == 1
    # a sweep that appears after the dashboard started is listed too
    imdb_sweep(tmp_path / "store" / "imdb")
    assert {s["id"] for s in app.json("/api/sweeps")} == {"gru", "imdb"}


def test_bad_dashboard_input(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "nope")]) == 2
    assert "nope: no such folder" in capsys.readouterr().err
    assert host_warning("127.0.0.1") is None
    assert "anyone who can reach this machine" in host_warning("0.0.0.0")


# --- in a real browser --------------------------------------------------------------------

def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1600"):
        options.add_argument(arg)
    options.binary_location = chromium
    return webdriver.Chrome(options=options, service=Service(driver))


def _wait(browser, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_browser_shows_a_real_smoke_sweep(tmp_path, served):
    from selenium.webdriver.common.by import By

    storage = tmp_path / "sweeps"
    assert main(["tune", "gan", "--smoke", "--num-samples", "3", "--storage", str(storage), "--name", "g", "--quiet"]) == 0
    n_trials = len(pd.read_parquet(storage / "g" / "trials.parquet"))
    app = served(storage)
    browser = _browser()
    try:
        browser.get(app.url)
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#sweeps tbody tr[data-sweep='g']"))
        browser.find_element(By.CSS_SELECTOR, "#sweeps a").click()
        _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == n_trials)
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#curves .main-svg .scatterlayer .trace"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "#params .js-plotly-plot")) >= 1
        assert browser.find_elements(By.CSS_SELECTOR, "#images img")  # the GAN's sample grids
        assert "frechet_distance" in browser.find_element(By.ID, "summary").text
        header = browser.find_elements(By.CSS_SELECTOR, "#trials thead th")[0]
        header.click()  # sorting by Model keeps every row
        assert len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == n_trials
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard-sweep.png"))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


def test_browser_page_refreshes_itself_while_the_sweep_runs(tmp_path, served):
    from selenium.webdriver.common.by import By

    sweep = gru_sweep(tmp_path / "store" / "gru")
    trials = pd.read_parquet(sweep / "trials.parquet")
    trials.loc[3, "status"] = "RUNNING"
    trials.iloc[:4].to_parquet(sweep / "trials.parquet", index=False)
    app = served(tmp_path / "store")
    browser = _browser()
    try:
        browser.get(app.url + "sweep/gru")
        _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 4)
        assert browser.find_element(By.ID, "state").text == "running"
        trials.loc[3, "status"] = "TERMINATED"
        trials.to_parquet(sweep / "trials.parquet", index=False)
        _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 6, timeout=20)
        _wait(browser, lambda b: b.find_element(By.ID, "state").text == "done", timeout=20)
    finally:
        browser.quit()
