"""The ``sweeplab`` commands that read and print: ``list`` and ``show`` (the registry and the
shipped space files) and ``analyze``, ``suggest``, ``best``, ``report`` and ``dashboard``
(stored sweeps). Each takes the parsed arguments and returns the exit status; cli.py
parses and calls them. What they print from is imported inside each, so ``list`` and
``show`` start without torch or Ray.
"""

from __future__ import annotations

import argparse
import shlex

from . import files
from .errors import UserError
from .schema import is_remote


def list_command(args: argparse.Namespace) -> int:
    from . import registry, spaces

    print(f"{'experiment':<10} {'metric':<14} {'mode':<4} {'report':<6} title")
    for e in registry.EXPERIMENTS.values():
        print(f"{e.id:<10} {e.metric:<14} {e.mode:<4} {e.report:<6} {e.title}")
    print("\nspace files (sweeplab tune NAME):")
    for name, path in spaces.shipped().items():
        _, raw = spaces.read(path)
        presets = ", ".join(raw.get("presets") or {}) or "-"
        print(f"  {name:<20} experiment={raw.get('experiment', '?'):<9} presets: {presets}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    from . import registry, spaces

    exp = registry.get(args.id)
    print(f"{exp.id}: {exp.title}")
    print(f"  report {exp.report}; metric {exp.metric} ({exp.mode}); trainable {exp.module}")
    r = exp.resources
    print(f"  resources per trial: cpu={r.cpu:g} gpu={r.gpu:g} workers={r.workers}")
    print(f"  smoke overrides: {exp.smoke}")
    for name, path in spaces.shipped().items():
        text, raw = spaces.read(path)
        if raw.get("experiment") != exp.id:
            continue
        print(
            f"\n  space {name} ({path.name}): method {raw.get('method', 'random')}, "
            f"scheduler {raw.get('scheduler', 'promotion')}, num_samples {raw.get('num_samples', '-')}"
        )
        for key, body in (raw.get("parameters") or {}).items():
            print(f"    {key}: {body}")
        for key, value in (raw.get("fixed") or {}).items():
            print(f"    {key} = {value}")
        for key, value in (raw.get("presets") or {}).items():
            print(f"    preset {key}: {value}")
    return 0


def _load(args: argparse.Namespace, one: bool = False):
    from .analysis import load

    sweeps = load.load(args.dirs, getattr(args, "metric_name", None), getattr(args, "mode", None))
    if one and len(sweeps) != 1:
        raise UserError(f"{' '.join(args.dirs)}: holds {len(sweeps)} sweeps; name one sweep folder")
    return sweeps


def analyze_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .analysis import report

    from .analysis import load

    if args.csv:
        _check_folder(args.csv, "--csv")  # before anything is printed or written
    sweeps = _load(args)
    parts = report.sections(sweeps, args.lang, args.baseline, args.trial, args.ties)
    print(report.markdown(parts), end="")
    if args.csv:
        folder = Path(args.csv)
        _make_folder(folder, "--csv")
        for part in parts:
            for slug, table in part.tables.items():
                (folder / f"{slug}.csv").write_text(table.csv())
        load.tidy(sweeps).to_csv(folder / "all-trials.csv", index=False)  # every column, with sweep metadata
        print(f"\nCSV tables: {folder}")
    return 0


def suggest_command(args: argparse.Namespace) -> int:
    from .analysis import observe, suggest

    sweep = _load(args, one=True)[0]
    proposal = suggest.suggest(sweep, observe.observe(sweep))
    text = proposal.yaml(sweep.uri)
    if args.out:
        _write(args.out, text)
        print("\n".join(proposal.changes) or suggest.NO_SIGN)
        print(f"next: sweeplab tune --space {shlex.quote(files.shown(args.out))}{suggest.warm_flag(proposal, sweep)}")
    else:
        print(text, end="")
    return 0


def best_command(args: argparse.Namespace) -> int:
    from .analysis import select, tables

    sweep = _load(args, one=True)[0]
    if args.pareto:
        metrics = [m.strip() for m in args.pareto.split(",") if m.strip()]
        if len(metrics) < 2:
            raise UserError(
                f"--pareto {args.pareto!r}: name two or more metrics, comma-separated (val_accuracy,epoch_seconds)"
            )
        front = select.pareto(sweep, metrics)
        print(f"non-dominated trials on {', '.join(metrics)}:")
        for trial_id, row in front.iterrows():
            print(f"  {trial_id}  {row['label']:<28} " + "  ".join(f"{m}={tables.fmt_metric(row[m])}" for m in metrics))
        return 0
    pick = select.choice(sweep, then=args.then, where=args.where, ties=args.ties, rule=args.rule)
    text = select.config_yaml(sweep, pick.trial_id, pick.reason)
    if args.out:
        _write(args.out, text)
        print(pick.reason)
        print(f"config: {args.out}")
    else:
        print(text, end="")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .analysis import report

    if args.out:
        _check_folder(args.out, "--out")
    sweeps = _load(args)
    folder = Path(args.out or (sweeps[0].uri if len(sweeps) == 1 and not is_remote(sweeps[0].uri) else "report")) / (
        "report" if not args.out and len(sweeps) == 1 else ""
    )
    md, page, commands = report.write_report(sweeps, folder, args.lang, args.baseline)
    print(f"report: {md}\n        {page}")
    for command in commands:
        print(f"next: {command}")
    return 0


def dashboard_command(args: argparse.Namespace) -> int:
    from .dashboard.server import serve

    serve(args.dirs, args.host, args.port)
    return 0


def _check_folder(path: str, flag: str) -> None:
    """A flag that names a folder to write into: not a file that is there already."""
    import os

    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a file, not a folder; give a folder to write the files into")


def _make_folder(folder, flag: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{flag} {folder}: cannot create it ({e.strerror})") from None


def _write(path: str, text: str) -> None:
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as e:
        raise UserError(f"{path}: cannot write ({e.strerror})") from None
