"""``sweeplab``: thin argparse front end. ``main(argv) -> int``: 0 ok, 1 failure, 2 bad input."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .errors import UserError


def _list(args: argparse.Namespace) -> int:
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


def _show(args: argparse.Namespace) -> int:
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
        print(f"\n  space {name} ({path.name}): method {raw.get('method', 'random')}, "
              f"scheduler {raw.get('scheduler', 'asha')}, num_samples {raw.get('num_samples', '-')}")
        for key, body in (raw.get("parameters") or {}).items():
            print(f"    {key}: {body}")
        for key, value in (raw.get("fixed") or {}).items():
            print(f"    {key} = {value}")
        for key, value in (raw.get("presets") or {}).items():
            print(f"    preset {key}: {value}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from . import tuning

    opts = tuning.SweepOptions(
        target=args.target, space=args.space, trainable=args.trainable, scheduler=args.scheduler,
        search=args.search, num_samples=args.num_samples, max_epochs=args.max_epochs,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        workers_per_trial=args.workers_per_trial, max_concurrent=args.max_concurrent,
        time_budget=args.time_budget, seed=args.seed, storage=args.storage, name=args.name,
        smoke=args.smoke, sets=args.set, address=args.address, num_cpus=args.num_cpus,
        verbose=0 if args.quiet else 1,
    )
    return tuning.run(tuning.prepare(opts))


def _resume(args: argparse.Namespace) -> int:
    from . import tuning

    return tuning.resume(args.dir, retry_errored=args.retry_errored)


def _train(args: argparse.Namespace) -> int:
    import datetime as dt
    from pathlib import Path

    from .runner import single_config, train_one

    exp, cfg = single_config(args.id, args.preset, args.config, args.set, args.smoke, args.space)
    out = Path(args.out or f"runs/{exp.id}-{args.preset or 'config'}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    row = train_one(exp, cfg, out, threads=args.threads, resume=args.resume)
    tests = {k: v for k, v in row.items() if k.startswith("test_") and isinstance(v, (int, float))}
    print("test: " + ", ".join(f"{k}={v:.4g}" for k, v in tests.items()))
    print(f"run folder: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweeplab", description="Hyperparameter search for the report models on Ray Tune.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="experiments and shipped space files")
    s.set_defaults(func=_list)

    s = sub.add_parser("show", help="one experiment: metric, resources, spaces and presets")
    s.add_argument("id")
    s.set_defaults(func=_show)

    s = sub.add_parser("tune", help="run a sweep", description="Run a sweep of an experiment (its default space) or of a shipped or given space file.")
    s.add_argument("target", nargs="?", help="experiment id (freq) or shipped space name (seqclf_lstm)")
    s.add_argument("--space", help="a space YAML file (W&B sweep shape plus sweeplab keys)")
    s.add_argument("--trainable", help="your own Tune function: path/to/file.py:function or module:function")
    s.add_argument("--scheduler", choices=["asha", "hyperband", "pbt", "median", "fifo"])
    s.add_argument("--search", choices=["optuna", "random", "grid"])
    s.add_argument("--num-samples", type=int)
    s.add_argument("--max-epochs", type=int, help="cap every trial's epochs (and the scheduler's max_t)")
    s.add_argument("--cpus-per-trial", type=float)
    s.add_argument("--gpus-per-trial", type=float, help="fractions share a GPU (0.25 = four trials a GPU)")
    s.add_argument("--workers-per-trial", type=int, help=">1: each trial trains with a TorchTrainer of N DDP workers")
    s.add_argument("--max-concurrent", type=int, help="default: what the cluster's CPUs/GPUs hold")
    s.add_argument("--time-budget", type=float, help="seconds; the sweep stops starting/continuing trials after it")
    s.add_argument("--seed", type=int, default=0, help="reaches the searcher and every trial (default 0)")
    s.add_argument("--storage", default="./sweeps", help="local folder or URI (s3://, gs://...); default ./sweeps")
    s.add_argument("--name", help="sweep folder name (default: SPACE-DATE-TIME)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pin a value for this run (repeatable)")
    s.add_argument("--smoke", action="store_true", help="tiny data, 2 epochs, 2 samples: same code path")
    s.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray started in-process)")
    s.add_argument("--num-cpus", type=int, help="CPUs of the in-process local Ray (default: all)")
    s.add_argument("--quiet", action="store_true", help="no Tune progress tables, no trial logs")
    s.set_defaults(func=_tune)

    s = sub.add_parser("resume", help="continue a stopped sweep (Ctrl-C or kill) without rerunning finished trials")
    s.add_argument("dir", help="the sweep folder (STORAGE/NAME)")
    s.add_argument("--retry-errored", action="store_true", help="also rerun trials that raised (e.g. lost nodes)")
    s.set_defaults(func=_resume)

    s = sub.add_parser("train", help="train one config in full, outside any sweep, and test it")
    s.add_argument("id", help="experiment id or shipped space name")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--preset", help="a named configuration of the space file")
    g.add_argument("--config", help="a YAML file of config values")
    s.add_argument("--space", help="take presets and fixed values from this space file")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--smoke", action="store_true")
    s.add_argument("--out", help="run folder (default runs/ID-PRESET-DATE)")
    s.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    s.add_argument("--threads", type=int, help="torch CPU threads")
    s.set_defaults(func=_train)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed its usage line already
        return int(e.code or 0)
    try:
        return args.func(args)
    except UserError as e:
        print(f"sweeplab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweeplab: interrupted", file=sys.stderr)
        return 130


def main_entry() -> None:
    sys.exit(main())
