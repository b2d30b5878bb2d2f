"""Dashboard page load on a sweep of 1,000 trials x 50 epochs (bench/analyze_scale.py's
synthetic store), in headless Chromium: time until the trials table holds every row, and
until the learning-curve chart is drawn; plus the trials API cold (first read of the
store) and warm (cached until the files change).

    python bench/dashboard_load.py [--trials 1000] [--epochs 50]

The search views (issue 21): each view's API cold and cached (importance: Optuna's PED-ANOVA
on the stored trials, cached until the store changes), and the page's time from the charts
drawn to all four search views drawn (best so far, importance, parallel coordinates,
decisions: fetched together, so it bounds each).

Needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver).
Goals: the trials table in under 1 s; each search view drawn in < 2 s; importance < 5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_scale import synthetic_store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch_seconds(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=50)
    args = p.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with TemporaryDirectory() as tmp:
        synthetic_store(Path(tmp) / "scale", args.trials, args.epochs, stopped=0.3)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "sweeplab", "dashboard", tmp, "--port", str(port)], stdout=subprocess.PIPE, text=True
        )
        try:
            server.stdout.readline()  # "sweeplab dashboard: http://..."
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    fetch_seconds(base + "/")
                    break
                except OSError:
                    time.sleep(0.1)
            cold = fetch_seconds(base + "/api/sweeps/scale/trials")
            warm = fetch_seconds(base + "/api/sweeps/scale/trials")
            curves = fetch_seconds(base + "/api/sweeps/scale/curves")
            views = {
                v: (fetch_seconds(f"{base}/api/sweeps/scale/{v}"), fetch_seconds(f"{base}/api/sweeps/scale/{v}"))
                for v in ("decisions", "importance", "parallel", "best_so_far")
            }
            options = webdriver.ChromeOptions()
            for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
                options.add_argument(a)
            options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
            try:
                browser.get(base + "/static/style.css")  # browser start-up out of the timing
                browser.get(base + "/sweep/scale")
                # the page marks when it has drawn the table and the charts; times from navigation start
                mark = "return (performance.getEntriesByName(arguments[0])[0] || {}).startTime"
                WebDriverWait(browser, 120).until(lambda b: b.execute_script(mark, "search-views") is not None)
                table, charts, search = (
                    browser.execute_script(mark, m) / 1000 for m in ("trials-table", "charts", "search-views")
                )
                # each view's API is asked for with the others when the charts are drawn; a view is
                # drawn when the four answers are in and those drawn before it are done
                drawn = {
                    v: browser.execute_script(mark, f"view-{v}") / 1000 - charts
                    for v in ("decisions", "best-so-far", "importance", "parallel")
                }
                rows = len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr"))
                assert rows == args.trials, rows
                assert browser.find_elements(By.CSS_SELECTOR, "#curves .main-svg .scatterlayer .trace")
            finally:
                browser.quit()
        finally:
            server.terminate()
            server.wait(10)
    print(f"sweep of {args.trials} trials x {args.epochs} epochs")
    print(
        f"trials API: {cold:.2f} s cold (reads the store, runs the rules), {warm * 1000:.0f} ms cached; curves API {curves:.2f} s"
    )
    print(
        f"page (from navigation start): trials table drawn at {table:.2f} s (goal < 1 s; store already read), "
        f"charts at {charts:.2f} s, the four search views {search - charts:.2f} s after"
    )
    print(
        "  each search view drawn, after the charts (goal < 2 s): "
        + ", ".join(f"{v} {t:.2f} s" for v, t in drawn.items())
    )
    for v, (c, w) in views.items():
        print(
            f"  /api/sweeps/ID/{v}: {c:.2f} s cold, {w * 1000:.0f} ms cached"
            + (" (goal < 5 s)" if v == "importance" else "")
        )
    print(
        json.dumps(
            {
                "bench": "dashboard_load",
                "trials": args.trials,
                "api_trials_cold_s": round(cold, 3),
                "api_trials_warm_s": round(warm, 3),
                "api_curves_s": round(curves, 3),
                "page_table_s": round(table, 3),
                "page_charts_s": round(charts, 3),
                "page_search_views_after_charts_s": round(search - charts, 3),
                **{f"page_view_{v.replace('-', '_')}_after_charts_s": round(t, 3) for v, t in drawn.items()},
                **{f"api_{v}_cold_s": round(c, 3) for v, (c, _) in views.items()},
                **{f"api_{v}_warm_s": round(w, 3) for v, (_, w) in views.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
