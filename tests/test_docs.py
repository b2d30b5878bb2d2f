"""The front door and the manual: README.md stays short and links only to pages that exist,
the generated pages (CLI reference, measured figures) are current, and docs/gen.py's
--check fails, naming the file, when one is not. Building the site itself
(`mkdocs build --strict`) is .ci/run's job: mkdocs is the `docs` extra, not `dev`."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python -m pytest"


def _gen():
    spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "docs" / "gen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_pages_and_the_readme_block_are_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    assert len(README.read_text().splitlines()) <= 200


def test_every_docs_link_in_the_readme_names_a_page_that_exists():
    links = re.findall(r"\]\((docs/[^)#\s]*)(?:#[^)]*)?\)", README.read_text())
    assert links, "the README links into the manual"
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_ci_runs_the_readme_test_command_verbatim():
    assert TEST_COMMAND in README.read_text()
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_every_page_is_in_the_nav_and_every_included_snippet_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = [page for entry in config["nav"] for page in entry.values()]
    docs = ROOT / "docs"
    assert [page for page in nav if not (docs / page).is_file()] == []
    assert sorted(p.name for p in docs.glob("*.md")) == sorted(nav)
    snippets = {m for page in nav for m in re.findall(r'^--8<-- "([^"]+)"', (docs / page).read_text(), re.MULTILINE)}
    assert snippets and [s for s in snippets if not (docs / s).is_file()] == []


def test_check_names_a_stale_page_and_a_write_makes_it_current(tmp_path, monkeypatch, capsys):
    gen = _gen()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{gen.BEGIN}\nold\n{gen.END}\n")
    monkeypatch.setattr(gen, "OUT", tmp_path / "generated")
    monkeypatch.setattr(gen, "README", readme)
    assert gen.main(["--check"]) == 1  # nothing written yet
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0
    assert "showcase.jsonl" in (tmp_path / "generated" / "showcase.md").read_text()
    assert "python bench/showcase.py" in readme.read_text() and "\nold\n" not in readme.read_text()
    capsys.readouterr()
    stale = tmp_path / "generated" / "overhead.md"
    stale.write_text(stale.read_text().replace("1.", "9.", 1))
    assert gen.main(["--check"]) == 1
    assert f"{stale} is not current" in capsys.readouterr().err


def test_a_results_file_without_a_renderer_still_reaches_the_docs(tmp_path, monkeypatch):
    gen = _gen()
    results = tmp_path / "results"
    results.mkdir()
    run = {
        "bench": "gpu",
        "date": "2026-12-08T10:00:00",
        "command": "python bench/gpu.py",
        "machine": {"host": "gpu1", "cpu": "Xeon", "cpus": 16},
        "versions": {"commit": "abc1234"},
        "figures": {"clips_per_s": 41.25, "peak_memory_gib": 12.5, "per_step": [1, 2]},
    }
    (results / "gpu.jsonl").write_text(json.dumps(run) + "\n")
    monkeypatch.setattr(gen, "RESULTS", results)
    pages = {path.name: text for path, text in gen.outputs().items()}
    assert "41.2" in pages["other.md"] and "python bench/gpu.py" in pages["other.md"] and "gpu1" in pages["other.md"]
    assert "2026-12-08 10:00" in pages["runs.md"]


def test_every_measured_table_says_its_command_date_and_machine():
    """A table either has date and machine columns (one row a run) or follows the line that
    names the run's command, date and machine."""
    pages = [p for p in (ROOT / "docs" / "generated").glob("*.md") if p.name not in ("cli.md", "other.md")]
    assert pages
    for page in pages:
        for chunk in re.split(r"(?m)^(?=\*Command\* `)", page.read_text()):
            lines = chunk.splitlines()
            first = lines[0] if lines else ""
            sourced = first.startswith("*Command* `") and "*date*" in first and "*machine*" in first
            headers = [
                line for line, below in itertools.pairwise(lines) if line.startswith("| ") and below.startswith("|---")
            ]
            assert [h for h in headers if not (sourced or ("| date |" in h and "| machine |" in h))] == [], page.name
