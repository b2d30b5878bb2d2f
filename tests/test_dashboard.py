"""The dashboard on loopback: its JSON API over hand-built and real stores, path traversal,
a store that grows while served, and the pages in a real headless Chromium."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from analysis_fixtures import gru_sweep, imdb_sweep, meta_for, mo_predictions_sweep, mo_sweep, write_sweep
from sweeplab.cli import main
from sweeplab.dashboard.insight import expected_best_of
from sweeplab.dashboard.server import Background, host_warning

ARTIFACTS = Path(os.environ.get("SWEEPLAB_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


class Served(Background):
    def get(self, path, host=None):
        request = urllib.request.Request(self.url + path.lstrip("/"), headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
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
    assert (gru["experiment"], gru["metric"], gru["scheduler"], gru["searcher"], gru["state"]) == (
        "seqclf",
        "val_macro_f1",
        "asha",
        "optuna",
        "done",
    )
    assert gru["trials"] == {
        "total": 6,
        "running": 0,
        "done": 6,
        "stopped": 0,
        "failed": 0,
        "interrupted": 0,
        "paused": 0,
        "time_up": 0,
    }
    assert gru["ended_by"] is None
    assert gru["best"] == {"trial_id": "gru6", "label": "GRU (original)", "value": 0.92}
    assert gru["trial_hours"] == 1.0
    trials = app.json("/api/sweeps/gru/trials")
    assert [r["label"] for r in trials["rows"]] == [
        "GRU (original)",
        "GRU (run #1)",
        "GRU (run #2)",
        "GRU (run #3)",
        "GRU (run #5)",
        "GRU (run #4)",
    ]
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


def test_a_sweep_its_time_budget_ended_is_done_not_interrupted(tmp_path, capsys):
    """The time budget ending a sweep is the plan: "done (time budget)", its cut-off trial
    TIME_UP and its paused ones paused at a rung, in the dashboard, the summary and analyze."""
    from sweeplab.analysis.summary import summarize
    from sweeplab.dashboard.data import Catalog

    folder = gru_sweep(tmp_path / "store" / "gru")
    trials = pd.read_parquet(folder / "trials.parquet")
    trials.loc[trials["trial_id"] == "gru6", "status"] = "TIME_UP"  # the baseline, cut off at its epoch 1
    trials.loc[trials["trial_id"] == "gru2", "status"] = "PAUSED"
    trials.to_parquet(folder / "trials.parquet")
    meta = json.loads((folder / "sweep.json").read_text())
    (folder / "sweep.json").write_text(json.dumps({**meta, "time_budget_spent": "2026-12-07T15:00:00"}))
    listed = Catalog([str(tmp_path / "store")]).sweeps()[0]
    assert (listed["state"], listed["ended_by"]) == ("done", "time budget")
    assert (listed["trials"]["time_up"], listed["trials"]["paused"], listed["trials"]["interrupted"]) == (1, 1, 0)
    lines: list[str] = []
    summarize(str(folder), "val_macro_f1", "max", echo=lines.append)
    assert lines[1] == "trials: 1 paused at a rung, 4 terminated, 1 cut off by the time budget"
    assert main(["analyze", str(folder)]) == 0
    assert "did not finish: cut off by the sweep's time budget at epoch 1 of" in capsys.readouterr().out


def test_a_grid_sweeps_progress_counts_every_combination(tmp_path):
    """A grid of 6 combinations, num_samples 1: "6 of 6 trials", not "6 of 1"."""
    from sweeplab import plan
    from sweeplab.dashboard.data import Catalog

    space = tmp_path / "grid.yaml"
    space.write_text(
        "experiment: freq\nmethod: grid\nparameters:\n  hidden_size: {values: [16, 32, 64]}\n"
        "  lr: {values: [1.0e-3, 1.0e-2]}\n"
    )
    prep = plan.prepare(plan.SweepOptions(storage=str(tmp_path / "s"), target="freq", space=str(space)))
    rec = plan.record_of(prep)
    assert (rec.num_samples, rec.trials_expected) == (1, 6)
    folder = gru_sweep(tmp_path / "store" / "grid")
    (folder / "sweep.json").write_text(
        json.dumps({**json.loads((folder / "sweep.json").read_text()), "num_samples": 1, "trials_expected": 6})
    )
    assert Catalog([str(tmp_path / "store")]).sweeps()[0]["progress"]["of"] == 6


def test_files_cannot_escape_the_sweep_folder(tmp_path, served):
    sweep = gru_sweep(tmp_path / "store" / "gru")
    (sweep / "report").mkdir()
    (sweep / "report" / "REPORT.md").write_text("# the report")
    (tmp_path / "store" / "secret.txt").write_text("secret")
    (sweep / "link").symlink_to(tmp_path / "store" / "secret.txt")
    app = served(tmp_path / "store")
    assert app.get("/files/gru/report/REPORT.md") == (200, b"# the report")
    for path in [
        "/files/gru/../secret.txt",
        "/files/gru/..%2Fsecret.txt",
        "/files/gru/%2E%2E/%2E%2E/etc/passwd",
        "/files/gru//etc/passwd",
        "/files/gru/%2Fetc%2Fpasswd",
        "/files/gru/link",
        "/files/gru/",
        "/files/gru/report/..%2F..%2Fsecret.txt",
        "/files/nope/trials.parquet",
    ]:
        status, body = app.get(path)
        assert status == 404 and b"secret" not in body and b"root:" not in body, path


def test_nul_bytes_are_bad_requests(tmp_path, served):
    gru_sweep(tmp_path / "store" / "gru")
    app = served(tmp_path / "store")
    for path in ["/files/gru/report%00.md", "/files/gru%00/trials.parquet", "/api/sweeps/gru%00", "/sweep/%00"]:
        assert app.get(path)[0] == 400, path


def test_other_hosts_are_refused_as_dns_rebinding(tmp_path, served):
    gru_sweep(tmp_path / "store" / "gru")
    app = served(tmp_path / "store")
    port = app.port
    for host in ["127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"]:
        assert app.get("/api/sweeps", host=host)[0] == 200, host
    for host in ["evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", f"[::2]:{port}"]:
        assert app.get("/api/sweeps", host=host)[0] == 403, host
        assert app.get("/files/gru/trials.parquet", host=host)[0] == 403, host
    other = Served([tmp_path / "store"], host="127.0.0.2")  # bound to another host on purpose: that one too
    try:
        assert other.get("/api/sweeps")[0] == 200  # Host: 127.0.0.2:PORT
        assert other.get("/api/sweeps", host="localhost")[0] == 200
        assert other.get("/api/sweeps", host="evil.example")[0] == 403
    finally:
        other.close()


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


def test_a_damaged_sweep_is_listed_with_its_error_beside_the_good_ones(tmp_path, served):
    gru_sweep(tmp_path / "store" / "gru")
    imdb_sweep(tmp_path / "store" / "imdb")
    (gru_sweep(tmp_path / "store" / "cut") / "trials.parquet").write_bytes(b"PAR1 cut")
    (gru_sweep(tmp_path / "store" / "shape") / "sweep.json").write_text("[]")
    (gru_sweep(tmp_path / "store" / "odd") / "trials.parquet").write_bytes(
        pd.read_parquet(tmp_path / "store" / "gru" / "trials.parquet").drop(columns="status").to_parquet()
    )
    app = served(tmp_path / "store")
    sweeps = {s["id"]: s for s in app.json("/api/sweeps")}
    assert sweeps["cut"] == {
        "id": "cut",
        "error": "trials.parquet: not a Parquet file (cut short or damaged: Parquet magic bytes not found in footer)",
    }
    assert sweeps["shape"] == {"id": "shape", "error": "sweep.json: holds an array, not a JSON object"}
    assert sweeps["odd"] == {"id": "odd", "error": "cannot be summarised (KeyError: 'status')"}
    assert sweeps["gru"]["best"]["value"] == 0.92 and sweeps["imdb"]["state"] == "done"
    status, body = app.get("/api/sweeps/cut/trials")
    assert status == 409 and json.loads(body)["error"].endswith(
        "cut/trials.parquet: not a Parquet file (cut short or damaged: Parquet magic bytes not found in footer)"
    )


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
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1600",
    ):
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
    assert (
        main(["tune", "gan", "--smoke", "--num-samples", "3", "--storage", str(storage), "--name", "g", "--quiet"]) == 0
    )
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
        heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#trials thead th")]
        assert "Epochs run" in heads and "Epochs" not in heads  # not beside a config's own "epochs"
        lr = [
            tr.find_elements(By.CSS_SELECTOR, "td")[i].text
            for i, h in enumerate(heads)
            if h.startswith("lr")
            for tr in browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")
        ]
        assert lr and all(float(v) > 0 for v in lr), lr  # 4 significant digits: a GAN's 2e-4 is not "0.000"
        header = browser.find_elements(By.CSS_SELECTOR, "#trials thead th")[0]
        header.click()  # sorting by Model keeps every row
        assert len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == n_trials
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard-sweep.png"))
        _search_views_render(browser, "real")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


def _search_views_render(browser, tag: str) -> None:
    """The sweep page's search views drawn, each kept as a screenshot under test-artifacts/."""
    from selenium.webdriver.common.by import By

    for view, selector in (
        ("best-so-far", "#bsf-epochs .main-svg .scatterlayer .trace"),
        ("importance", "#importance .main-svg .barlayer .trace"),
        ("parallel", "#parallel .main-svg .parcoords"),
        ("decisions", "#decisions thead th"),
    ):
        _wait(browser, lambda b, selector=selector: b.find_elements(By.CSS_SELECTOR, selector))
        element = browser.find_element(By.CSS_SELECTOR, selector).find_element(By.XPATH, "ancestor::section[1]")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert element.screenshot(str(ARTIFACTS / f"dashboard-{view}-{tag}.png"))


@pytest.mark.slow
def test_browser_draws_the_search_views_compare_and_a_sweep_started_after_the_index_opened(tmp_path, served):
    from selenium.webdriver.common.by import By

    promotion_sweep(tmp_path / "old", started="2026-12-01T10:00:00")
    app = served(tmp_path)
    browser = _browser()
    try:
        browser.get(app.url)
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#sweeps tbody tr[data-sweep='old']"))
        promotion_sweep(tmp_path / "new", started="2026-12-02T10:00:00")  # after the page opened
        _wait(
            browser,
            lambda b: (
                [r.get_attribute("data-sweep") for r in b.find_elements(By.CSS_SELECTOR, "#sweeps tbody tr")]
                == ["new", "old"]
            ),
            timeout=20,
        )
        assert browser.find_element(By.CSS_SELECTOR, "#sweeps tbody tr td.progress").text == "32 of 36 epochs"
        for box in browser.find_elements(By.CSS_SELECTOR, "#sweeps tbody input[type=checkbox]"):
            box.click()
        browser.find_element(By.ID, "compare").click()
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#compare-curves .main-svg .scatterlayer .trace"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "#compare-chosen tbody tr")) == 2
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard-compare.png"))
        (tmp_path / "new" / "pbt_global.txt").write_text(
            json.dumps(["run_trial_p1", "run_trial_p2", 4, 4, {"lr": 0.01}, {"lr": 0.012}]) + "\n"
        )
        browser.get(app.url + "sweep/new")
        _search_views_render(browser, "fixture")
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#lineage .main-svg .scatterlayer .trace"))
        assert browser.find_element(By.ID, "lineage-box").screenshot(
            str(ARTIFACTS / "dashboard-pbt-lineage-fixture.png")
        )
        cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#decisions tbody td")]
        assert cells == ["GRU (run #3)", "pause 0.05 (of 3)", "GRU (run #1)", "continue 0.15 (2/3)"], cells
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


@pytest.mark.slow
def test_browser_draws_the_front_of_a_sweep_of_several_objectives(tmp_path, served):
    from selenium.webdriver.common.by import By

    mo_predictions_sweep(tmp_path / "front")
    app = served(tmp_path)
    browser = _browser()
    try:
        browser.get(app.url + "sweep/front")
        for selector in ("#front .main-svg .scatterlayer .trace", "#hv-seconds .main-svg .scatterlayer .trace"):
            _wait(browser, lambda b, selector=selector: b.find_elements(By.CSS_SELECTOR, selector))
        box = browser.find_element(By.ID, "front-box")
        assert box.is_displayed()
        names = [t.text for t in box.find_elements(By.CSS_SELECTOR, "#front .legendtext")]
        assert names == ["Pareto front", "statistically dominated", "chosen"], names
        assert "GRU (original) (chosen)" in box.find_element(By.CSS_SELECTOR, "#front .textpoint").text
        note = browser.find_element(By.ID, "front-note").text
        assert "Chosen: GRU (original) (trial b)" in note and "Statistically dominated:" in note
        assert "reference point val_macro_f1" in browser.find_element(By.ID, "hv-note").text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert box.screenshot(str(ARTIFACTS / "dashboard-front-fixture.png"))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


@pytest.mark.slow
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


# --- the search, not only its results: decisions, importance, parallel coordinates, best so
# far against compute, compare, and the index's order and progress

PROMO_SPACE = """experiment: seqclf
method: bayes
metric: {name: val_macro_f1, goal: maximize}
scheduler: {name: promotion, grace_period: 1, reduction_factor: 3}
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-1}
  cell: {values: [gru, lstm]}
"""
# trial -> (lr, cell, epochs trained, status); val_macro_f1 at epoch e = 0.1 * e + lr-driven level
PROMO_TRIALS = {
    "p1": (1e-3, "gru", 9, "TERMINATED"),
    "p2": (1e-2, "lstm", 9, "TERMINATED"),
    "p3": (1e-4, "gru", 1, "PAUSED"),
    "p4": (3e-2, "lstm", 3, "TERMINATED"),
    "p5": (3e-4, "lstm", 1, "TERMINATED"),
    "p6": (5e-3, "gru", 9, "TERMINATED"),
}


def promo_value(lr: float, epoch: int) -> float:
    return round(0.05 * epoch + 0.1 * (4 + math.log10(lr)), 6)


def promotion_sweep(
    folder: Path, started: str = "2026-12-01T10:00:00", experiment: str = "seqclf", ids: Callable[[str], str] = str
) -> Path:
    trials, history, t = [], [], 1_700_000_000
    for i, (name, (lr, cell, epochs, status)) in enumerate(PROMO_TRIALS.items()):
        tid = ids(name)
        rows = [
            {
                "trial_id": tid,
                "training_iteration": e,
                "val_macro_f1": promo_value(lr, e),
                "time_this_iter_s": 2.0,
                "time_total_s": 2.0 * e,
                "timestamp": t + 10 * i + e,
            }
            for e in range(1, epochs + 1)
        ]
        history += rows
        stopped = {"stopped_at_rung": 1} if name == "p5" else {}
        trials.append(
            {
                "trial_id": tid,
                "status": status,
                "preset": None,
                "error": None,
                "config/lr": lr,
                "config/cell": cell,
                "iterations": epochs,
                "wall_time_s": 2.0 * epochs,
                "best/val_macro_f1": rows[-1]["val_macro_f1"],
                "best_iteration": epochs,
                **stopped,
            }
        )
    write_sweep(
        folder,
        trials,
        history,
        {
            **meta_for(experiment, "val_macro_f1", "max", folder.name, scheduler="promotion", searcher="rung_tpe"),
            "space": PROMO_SPACE,
            "started": started,
            "num_samples": 3,
            "epoch_budget": 36,
        },
    )
    # as promotion ASHA records them: the rung's count, promotions, cutoff and best few scores
    at1 = {t: promo_value(PROMO_TRIALS[t][0], 1) for t in ("p1", "p2", "p3")}
    seen = {"n": 3, "promoted": 1, "cutoff": at1["p2"], "top": dict(sorted(at1.items(), key=lambda kv: -kv[1])[:2])}
    pd.DataFrame(
        [
            {"trial_id": "p3", "rung": 1, "epoch": 1, "action": "pause", "scores": json.dumps(seen), "at": 1.0},
            {"trial_id": "p1", "rung": 1, "epoch": 1, "action": "continue", "scores": json.dumps(seen), "at": 2.0},
        ]
    ).to_parquet(folder / "decisions.parquet", index=False)
    return folder


def test_the_decisions_view_shows_each_rungs_decisions_with_the_scores_beside_them(tmp_path, served):
    promotion_sweep(tmp_path / "promo")
    gru_sweep(tmp_path / "gru")
    app = served(tmp_path)
    d = app.json("/api/sweeps/promo/decisions")
    assert (d["source"], d["rungs"]) == ("recorded", [1])
    # p3's score is below the two shown: no rank among them, its score from the history
    assert [(r["trial_id"], r["action"], r["rank"], r["of"], r["cutoff"]) for r in d["decisions"]] == [
        ("p3", "pause", None, 3, promo_value(1e-2, 1)),
        ("p1", "continue", 2, 3, promo_value(1e-2, 1)),
    ]
    assert d["decisions"][0]["score"] == promo_value(1e-4, 1)
    derived = app.json("/api/sweeps/gru/decisions")  # no decisions recorded, none stopped: nothing to show
    assert (derived["source"], derived["decisions"]) == ("derived", [])


def test_importance_leaves_out_a_trial_without_a_numeric_parameter(tmp_path):
    """A scored trial whose config lacks ``lr`` (a NaN in the store) used to fail the whole view
    (float(None) in the range of lr's distribution); it is left out of the study instead."""
    from sweeplab.analysis import load
    from sweeplab.dashboard import insight

    folder = promotion_sweep(tmp_path / "promo")
    trials = pd.read_parquet(folder / "trials.parquet")
    trials.loc[trials["trial_id"] == "p6", "config/lr"] = math.nan
    trials.to_parquet(folder / "trials.parquet", index=False)
    imp = insight.importance(load.load_sweep(str(folder)))
    assert set(imp["importances"]) == {"lr", "cell"} and imp["importances"]["lr"] > imp["importances"]["cell"]


def test_importance_parallel_coordinates_and_best_so_far(tmp_path, served):
    promotion_sweep(tmp_path / "promo")
    app = served(tmp_path)
    imp = app.json("/api/sweeps/promo/importance")
    assert imp["method"].startswith("PED-ANOVA") and imp["trials"] == 6 and set(imp["importances"]) == {"lr", "cell"}
    assert imp["importances"]["lr"] > imp["importances"]["cell"]  # the metric follows lr; cell is noise
    par = app.json("/api/sweeps/promo/parallel")
    axes = {a["name"]: a for a in par["axes"]}
    assert axes["lr"]["log"] is True and axes["cell"]["categories"] == ["gru", "lstm"]
    assert axes["lr"]["values"] == [v[0] for v in PROMO_TRIALS.values()]
    best = app.json("/api/sweeps/promo/best_so_far")
    assert best["epochs"] == list(range(1, 33)) and len(best["best"]) == 32
    assert best["best"][0] == promo_value(1e-3, 1) and best["best"][-1] == max(
        promo_value(lr, e) for lr, _, e, _ in PROMO_TRIALS.values()
    )
    assert best["trial_hours"][-1] == pytest.approx(32 * 2.0 / 3600)
    # every config as trained to its budget: the three cut ones (p3, p5 at epoch 1, p4 at 3) plus
    # the gain the full-length ones made from there, which on this linear curve is exactly theirs
    assert (best["random"]["from_trials"], best["random"]["extended"], best["random"]["epochs_a_trial"]) == (6, 3, 9)
    everyone = np.array([promo_value(lr, 9) for lr, *_ in PROMO_TRIALS.values()])
    assert best["random"]["values"][:9] == [None] * 8 + [pytest.approx(expected_best_of(everyone, 1, True))]
    assert best["random"]["values"][-1] == pytest.approx(expected_best_of(everyone, 3, True))  # 32 epochs: 3 configs


def test_random_search_draws_every_config_a_cut_one_extended_by_the_median_gain_of_those_that_went_on():
    from types import SimpleNamespace

    from sweeplab.dashboard.insight import full_length_values

    curves = {  # val_loss by epoch (min); c and d cut, e cut with no trial of its budget past epoch 2
        "a": [1.0, 0.8, 0.7, 0.6],
        "b": [0.9, 0.9, 0.5, 0.4],  # running best at 2: 0.9, gain to the end 0.5
        "f": [1.2, 1.0, 0.9, 0.9],  # gain from 2: 0.1; from 1: 0.3
        "c": [0.95, 0.85],
        "d": [1.1],
        "e": [0.7, 0.6],
    }
    budget = {"a": 4, "b": 4, "f": 4, "c": 4, "d": 4, "e": 6}
    facts = pd.DataFrame(
        [
            {
                "trial_id": t,
                "best": min(v),
                "iterations": len(v),
                "budget": budget[t],
                "cut_early": len(v) < budget[t],
                "measured_in": None,
            }
            for t, v in curves.items()
        ]
    )
    history = {t: (np.arange(1, len(v) + 1), np.array(v)) for t, v in curves.items()}
    sweep = SimpleNamespace(
        mode="min",
        metric="val_loss",
        facts=facts,
        curve=lambda t, col: history[t][0] if col == "training_iteration" else history[t][1],
    )
    values, budgets, extended = full_length_values(sweep)
    # c at 2: gains a 0.8-0.6, b 0.9-0.4, f 1.0-0.9 -> median 0.2; d at 1: gains 0.4, 0.5, 0.3 -> 0.4;
    # e (budget 6) borrows from every trial past epoch 2 whatever its budget: median 0.2
    assert values.tolist() == pytest.approx([0.6, 0.4, 0.9, 0.85 - 0.2, 1.1 - 0.4, 0.6 - 0.2])
    assert budgets.tolist() == [4, 4, 4, 4, 4, 6] and extended == 3


def test_expected_best_of_k_random_draws():
    assert expected_best_of(np.array([1.0, 2.0, 3.0]), 2, True) == pytest.approx(22 / 9)
    assert expected_best_of(np.array([1.0, 2.0, 3.0]), 2, False) == pytest.approx(14 / 9)
    assert expected_best_of(np.array([1.0, 2.0, 3.0]), 0, True) is None


def test_compare_and_the_index_newest_first_with_progress(tmp_path, served):
    promotion_sweep(tmp_path / "old", started="2026-12-01T10:00:00")
    promotion_sweep(tmp_path / "new", started="2026-12-02T10:00:00")
    imdb_sweep(tmp_path / "other")
    app = served(tmp_path)
    index = app.json("/api/sweeps")
    assert [s["id"] for s in index] == ["new", "old", "other"]  # newest first; no start time last
    assert {k: index[0]["progress"][k] for k in ("ended", "of", "epochs", "epoch_budget", "eta_s")} == {
        "ended": 5,
        "of": None,
        "epochs": 32,
        "epoch_budget": 36,
        "eta_s": None,
    }
    both = app.json("/api/compare?ids=old,new")
    assert [s["id"] for s in both["sweeps"]] == ["old", "new"] and both["metric"] == "val_macro_f1"
    assert both["sweeps"][0]["chosen"]["config"]["lr"] == 1e-2
    status, body = app.get("/api/compare?ids=old,other")
    assert status == 409 and b"different experiments" in body
    assert app.get("/compare?ids=old,new")[0] == 200


def test_pbts_exploits_come_from_rays_log_as_a_lineage_with_the_mutated_values(tmp_path, served):
    sweep = promotion_sweep(tmp_path / "pbt", ids=lambda name: f"p_{int(name[1:]):05d}")
    (sweep / "decisions.parquet").unlink()
    # Ray names trials by experiment tag: their index, which ends the trial id (p_00001 ...)
    log = [
        ["1", "2", 4, 4, {"lr": 0.01, "cell": "lstm"}, {"lr": 0.012, "cell": "lstm"}],
        ["6_lr=0.01", "2", 6, 6, {"lr": 0.01, "cell": "lstm"}, {"lr": 0.008, "cell": "gru"}],
    ]
    (sweep / "pbt_global.txt").write_text("\n".join(json.dumps(x) for x in log) + '\n["run_trial_p3", "run_')
    app = served(tmp_path)
    d = app.json("/api/sweeps/pbt/decisions")
    assert [(x["trial_id"], x["from"], x["iteration"], x["changed"]) for x in d["lineage"]] == [
        ("p_00001", "p_00002", 4, {"lr": [0.01, 0.012]}),
        ("p_00006", "p_00002", 6, {"lr": [0.01, 0.008], "cell": ["lstm", "gru"]}),
    ]
    gru_sweep(tmp_path / "gru")
    assert app.json("/api/sweeps/gru/decisions")["lineage"] is None


def test_the_dashboard_serves_every_view_from_files_only_neither_ray_nor_torch_nor_tuning(tmp_path):
    """Every JSON route of a sweep, served in a fresh process: the dashboard reads the
    store's files and imports nothing of the running side."""
    import subprocess
    import sys

    gru_sweep(tmp_path / "store" / "gru")
    code = f"""
import sys, urllib.request
from sweeplab.dashboard.data import VIEWS
from sweeplab.dashboard.server import Background
bg = Background([{str(tmp_path / "store")!r}])
for route in ["api/sweeps", "api/sweeps/gru", "api/sweeps/gru/trials", "api/sweeps/gru/curves",
              "api/sweeps/gru/history/gru1", "sweep/gru", "", *[f"api/sweeps/gru/{{v}}" for v in VIEWS]]:
    assert urllib.request.urlopen(bg.url + route).status == 200, route
bad = [m for m in ("ray", "torch", "sweeplab.tuning", "sweeplab.plan", "sweeplab.runner") if m in sys.modules]
assert not bad, bad
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_endpoint_answers_500_for_a_damaged_or_empty_sweep(tmp_path, served):
    """Issue 34.8: a store with no history yet, infinite values, a table replaced by a folder,
    a zero-row trials table, the history copied over the trials: a JSON error (4xx) naming
    the reason, or the data, never a 500; and no JSON 'Infinity'."""
    import shutil

    write_sweep(
        tmp_path / "nohist",
        [{"trial_id": "a", "status": "RUNNING", "config/lr": 0.1, "iterations": 0}],
        [],
        meta_for("seqclf", "val_macro_f1", "max", "nohist", scheduler="promotion", searcher="rung_tpe"),
    )
    promotion_sweep(tmp_path / "inf")
    h = pd.read_parquet(tmp_path / "inf" / "history.parquet")
    h.loc[0, "val_macro_f1"], h.loc[1, "val_macro_f1"] = float("inf"), float("-inf")
    h.to_parquet(tmp_path / "inf" / "history.parquet")
    promotion_sweep(tmp_path / "dirtrials")
    (tmp_path / "dirtrials" / "trials.parquet").unlink()
    (tmp_path / "dirtrials" / "trials.parquet").mkdir()
    promotion_sweep(tmp_path / "zerorows")
    pd.DataFrame({"trial_id": pd.Series([], dtype=str), "status": pd.Series([], dtype=str)}).to_parquet(
        tmp_path / "zerorows" / "trials.parquet"
    )
    promotion_sweep(tmp_path / "histovertrials")
    shutil.copy(tmp_path / "histovertrials" / "history.parquet", tmp_path / "histovertrials" / "trials.parquet")
    s = served(str(tmp_path))
    answers = {}
    for sweep in ("nohist", "inf", "dirtrials", "zerorows", "histovertrials"):
        for view in ("", "/trials", "/curves", "/decisions", "/importance", "/parallel", "/best_so_far", "/history/p1"):
            status, body = s.get(f"/api/sweeps/{sweep}{view}")
            answers[sweep + view] = status
            assert status < 500 and b"Infinity" not in body, (sweep + view, status, body[:200])
            if status >= 400:
                assert json.loads(body)["error"]
    assert answers["zerorows"] == 409 and answers["inf/trials"] == 200
    status, _ = s.get("/api/sweeps")
    assert status == 200


def test_the_front_view_of_a_sweep_of_several_objectives(tmp_path, served):
    """The sweep page's front and hypervolume, from analysis/front.py's functions; a sweep of
    one metric has no front (and its page asks for none)."""
    mo_sweep(tmp_path / "mo")
    mo_predictions_sweep(tmp_path / "pred")
    gru_sweep(tmp_path / "gru")
    app = served(tmp_path)
    assert app.json("/api/sweeps/mo")["objectives"] == [["val_loss", "min"], ["cost", "min"]]
    f = app.json("/api/sweeps/mo/front")
    assert f["objectives"] == [["val_loss", "min"], ["cost", "min"]] and f["constraints"] == ["cost <= 6"]
    points = {p["trial_id"]: p for p in f["points"]}
    assert {t: (p["values"], p["keeps"], p["front"]) for t, p in points.items()} == {
        "a": ([0.4, 2.0], True, 0),
        "b": ([0.2, 5.0], True, 0),
        "c": ([0.1, 8.0], False, None),
    }
    assert f["chosen"]["trial_id"] == "b" and f["chosen"]["reason"].startswith("run #2 (trial b): val_loss 0.200")
    assert f["dominance"].startswith("No front point is marked statistically dominated")
    hv = f["hypervolume"]
    assert hv["epochs"] == [1, 2, 3, 4, 5, 6] and hv["seconds"] == [10.0, 20.0, 25.0, 30.0, 35.0, 40.0]
    assert hv["hypervolume"] == pytest.approx([1 / 11, 31 / 121, 31 / 121, 203 / 363, 203 / 363, 71 / 121])
    assert hv["reference"] == pytest.approx({"val_loss": 0.86, "cost": 5.4})
    pred = app.json("/api/sweeps/pred/front")
    assert {p["trial_id"]: p["dominated_by"] for p in pred["points"]} == {"a": ["b"], "b": [], "c": []}
    assert app.json("/api/sweeps/gru/front") == {"objectives": []}
    assert app.json("/api/sweeps/gru")["objectives"] == []
