"""What every LCBench run of the search-quality bench shares, one objective or several:
the one-line failure, choosing the methods (known, their packages installed), the output
files' suffix, and the JSON entry appended to bench/results/search_quality.jsonl."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import json
import sys
from pathlib import Path

from _common import RESULTS, machine, versions

import _sq_lcbench as lcb

PEER_DISTS = (
    "ray",
    "optuna",
    "syne-tune",
    "hpbandster",
    "ConfigSpace",
    "statsmodels",
    "onnxruntime",
    "numpy",
    "scipy",
    "matplotlib",
)
INSTALL = {
    "syne_tune": "pip install --no-deps syne-tune==0.14.2 dill==0.4.1",
    "hpbandster": "pip install hpbandster==0.7.4 ConfigSpace==1.2.2",
    "ConfigSpace": "pip install ConfigSpace==1.2.2",
    "statsmodels": "pip install statsmodels",
    "onnxruntime": "pip install onnxruntime==1.32.0",
}


def fail(msg: str) -> None:
    print(f"search_quality: {msg}", file=sys.stderr)
    raise SystemExit(2)


def choose_methods(spec: str | None, methods: dict, peers: dict, extra: tuple[str, ...]) -> list[str]:
    """``--methods a,b`` (default: all of ``methods`` but the ``extra``), random first where
    it is missing (lost_to_random needs it); each known and its packages installed."""
    names = [n for n in methods if n not in extra] if not spec else [n.strip() for n in spec.split(",") if n.strip()]
    check_methods(names, methods, peers)
    if "random" not in names:
        names.insert(0, "random")
    return list(dict.fromkeys(names))


def check_methods(names: list[str], methods: dict, peers: dict) -> None:
    """Each name known, and the packages it runs on installed (else one line, exit 2)."""
    unknown = [n for n in names if n not in methods]
    if unknown:
        fail(f"--methods: unknown {', '.join(unknown)}; known: {', '.join(methods)}")
    for name in names:
        for mod in peers[name]:
            try:
                importlib.import_module(mod)
            except ImportError as e:
                fail(f"method {name} needs {mod} ({e}); install: {INSTALL.get(mod, 'pip install ' + mod)}")


def suffix(args, before: str = "", after: str = "") -> str:
    """The output files' suffix: ``before``, then _quick, or _custom for anything but the
    full protocol (a subset never overwrites the full run's files), then ``after``, _nockpt
    and _wK where the run differs from the standard one."""
    standard = (
        args.methods is None and args.tasks == list(lcb.DEV_TASKS) and args.seeds == 5 and args.budget_trials == 40
    )
    out = before + ("_quick" if args.quick else "" if standard else "_custom") + after
    return out + ("_nockpt" if args.no_checkpoint else "") + (f"_w{args.workers}" if args.workers != 2 else "")


def peer_versions() -> dict:
    out = {}
    for dist in PEER_DISTS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write_entry(figures: dict, compact: dict, argv) -> None:
    entry = {
        "bench": "search_quality",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python " + " ".join(["bench/" + Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": machine(),
        "versions": {**versions(), **peer_versions()},
        "figures": figures,
    }
    with open(RESULTS / "search_quality.jsonl", "a") as f:
        f.write(json.dumps(entry, default=float) + "\n")
    print(json.dumps({"bench": "search_quality", "figures": compact}, default=float))
