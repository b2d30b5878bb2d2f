"""``sweeplab``: thin argparse front end. ``main(argv) -> int``: 0 ok, 1 failure, 2 bad input.

The commands that run or resume a sweep or train one config are here; those that only read
and print (list, show, analyze, suggest, best, report, dashboard) are in read_commands.py.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from typing import Optional, Sequence

from . import read_commands, settings, stopping
from .errors import UserError
from .schema import is_test


def _options(args: argparse.Namespace):
    from . import plan

    return plan.SweepOptions(
        target=args.target,
        space=args.space,
        trainable=args.trainable,
        scheduler=args.scheduler,
        search=args.search,
        num_samples=args.num_samples,
        max_epochs=args.max_epochs,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        workers_per_trial=args.workers_per_trial,
        max_concurrent=args.max_concurrent,
        time_budget=args.time_budget,
        seed=args.seed,
        storage=args.storage,
        name=args.name,
        smoke=args.smoke,
        sets=args.set,
        address=getattr(args, "address", None) if args.func is _tune else None,
        num_cpus=getattr(args, "num_cpus", None),
        verbose=0 if args.quiet else 2 if args.verbose else 1,
        dashboard=getattr(args, "dashboard", False),
        wandb=args.wandb,
        max_failures=args.max_failures,
        epoch_budget=args.epoch_budget,
        warm_start=args.warm_start,
    )


def _light_checks(args: argparse.Namespace) -> None:
    """What can be refused before tuning's imports (Ray, torch: seconds): a typo in the
    experiment or space name, a missing space file, a number or name no sweep can take."""
    from . import flags

    flags.check(
        seed=args.seed,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        time_budget=args.time_budget,
        **{
            k: getattr(args, k, None)
            for k in ("max_epochs", "num_samples", "max_concurrent", "num_cpus", "epoch_budget")
        },
    )
    flags.check_name(args.name)
    if not args.trainable:
        from . import spaces

        spaces.resolve_target(args.target, args.space)


def _tune(args: argparse.Namespace) -> int:
    if args.address or os.environ.get("RAY_ADDRESS"):  # a driver joining a cluster started with token auth
        from . import cluster

        cluster.token_mode()  # before anything imports Ray, as for submit
    _light_checks(args)
    from . import plan, tuning

    prep = plan.prepare(_options(args))
    prep.spec.check_paths()  # here, not in prepare: a job submitted to a cluster reads the cluster's files
    return tuning.run(prep)


def _submit(args: argparse.Namespace) -> int:
    from . import cluster

    cluster.token_mode()  # before anything imports Ray: Ray reads RAY_AUTH_MODE once, when imported
    _light_checks(args)
    from . import plan

    # the cluster runs exactly this; check it here first, as tune would (not what fits this machine)
    plan.prepare(_options(args), check_fit=False)
    return cluster.submit(_forwarded(args), args.address, args.follow, args.ship_code)


def _forwarded(args: argparse.Namespace) -> list[str]:
    """The tune command line for ``args``: each sweep flag that differs from its default."""
    out = [args.target] if args.target else []
    for action in _sweep_flags(argparse.ArgumentParser()):
        if action.dest not in SWEEP_FLAGS:
            continue
        value = getattr(args, action.dest)
        if value == action.default or value is None:
            continue
        flag = action.option_strings[0]
        if action.nargs == 0:  # a switch (store_true)
            out.append(flag)
        elif isinstance(value, list):  # a repeatable flag (append)
            out += [part for v in value for part in (flag, v)]
        else:
            out += [flag, str(value)]
    return out


def _resume(args: argparse.Namespace) -> int:
    from . import tuning

    return tuning.resume(args.dir, retry_errored=args.retry_errored)


def _train(args: argparse.Namespace) -> int:
    import datetime as dt
    from pathlib import Path

    from .local_training import single_config, train_one

    exp, cfg, chosen = single_config(args.id, args.preset, args.config, args.set, args.smoke, args.space)
    out = Path(args.out or f"runs/{exp.id}-{args.preset or 'config'}-{dt.datetime.now():%Y%m%d-%H%M%S}")
    row = train_one(exp, cfg, out, threads=args.threads, resume=args.resume, chosen=chosen)
    tests = {k: v for k, v in row.items() if is_test(k) and isinstance(v, (int, float))}
    print(
        f"held-out test, on the weights of epoch {row.get('epoch')} (best {exp.metric}): "
        + ", ".join(f"{k}={v:.4g}" for k, v in tests.items())
    )
    print(f"run folder: {out}")
    return 0


class _Recording:
    """A parser or an argument group whose ``add_argument`` keeps each action it adds in
    ``added``: argparse has no public list of a parser's actions."""

    def __init__(self, target, added: list[argparse.Action]):
        self.target, self.added = target, added

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        self.added.append(self.target.add_argument(*args, **kwargs))
        return self.added[-1]


def _sweep_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """What a sweep is: the flags tune and submit share (submit forwards them to tune).
    Returns the actions added."""
    added: list[argparse.Action] = []
    s = _Recording(parser, added)
    s.add_argument("target", nargs="?", help="experiment id (freq) or shipped space name (seqclf_lstm)")
    s.add_argument("--space", help="a space YAML file (W&B sweep shape plus sweeplab keys)")
    s.add_argument("--trainable", help="your own Tune function: path/to/file.py:function or module:function")
    from .options import SCHEDULERS, SEARCHERS

    s.add_argument(
        "--scheduler",
        choices=list(SCHEDULERS),
        help="default: the space's (shipped spaces: promotion, asynchronous successive halving that "
        "pauses and promotes; asha is Ray's, which stops)",
    )
    s.add_argument(
        "--search",
        choices=list(SEARCHERS),
        help="default: the space's (W&B bayes = rung_tpe, a TPE study per rung; optuna is Ray's OptunaSearch)",
    )
    s.add_argument(
        "--num-samples",
        type=int,
        help="trials; with rung_tpe and a scheduler that pauses or cuts: the budget, in full-length trials' epochs",
    )
    s.add_argument(
        "--max-epochs",
        type=int,
        help="a trial may train up to N epochs: a fixed budget becomes N, a "
        "searched epochs is capped at N, and so is the scheduler's max_t",
    )
    s.add_argument(
        "--cpus-per-trial",
        type=float,
        help="CPUs a trial holds (default: the registry's, then the space file's); also its torch threads",
    )
    s.add_argument(
        "--gpus-per-trial",
        type=float,
        help="fractions share a GPU (0.25 = four trials a GPU; the "
        "registry's default share applies only where the cluster has GPUs)",
    )
    s.add_argument("--workers-per-trial", type=int, help=">1: each trial trains with a TorchTrainer of N DDP workers")
    s.add_argument("--max-concurrent", type=int, help="default: what the cluster's CPUs/GPUs hold")
    s.add_argument("--time-budget", type=float, help="seconds; the sweep stops starting/continuing trials after it")
    s.add_argument(
        "--epoch-budget",
        type=int,
        metavar="N",
        help="stop the sweep once its trials have reported N epochs "
        "in total (trials running then may each finish the epoch they are in)",
    )
    s.add_argument(
        "--max-failures",
        type=int,
        default=0,
        help="restart a crashed trial (lost node, killed worker) "
        "from its last checkpoint up to N times (default 0: record the error, go on)",
    )
    s.add_argument("--seed", type=int, default=0, help="reaches the searcher and every trial (default 0)")
    s.add_argument(
        "--storage",
        default="./sweeps",
        help="local folder or URI (s3://, gs://, file:// for a shared "
        "mount); default ./sweeps. A sweep on several nodes needs one every node reaches",
    )
    s.add_argument("--name", help="sweep folder name (default: SPACE-DATE-TIME)")
    s.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="pin a value for this run (repeatable)"
    )
    s.add_argument(
        "--smoke",
        action="store_true",
        help="tiny data, 2 epochs a trial, a budget of 2 trials (the default search may split it into "
        "more, shorter ones): the same code path in seconds",
    )
    s.add_argument(
        "--warm-start",
        action="append",
        default=[],
        metavar="DIR",
        help="learn from earlier sweeps (a sweep folder or a storage folder; repeatable): their scores "
        "teach the rung_tpe search, and their two best configs run first",
    )
    s.add_argument(
        "--wandb", action="store_true", help="also log every trial to W&B (offline unless WANDB_API_KEY is set)"
    )
    out = _Recording(parser.add_mutually_exclusive_group(), added)
    out.add_argument("--quiet", action="store_true", help="no progress display: the summary at the end only")
    out.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Ray's trial tables and the trials' own output instead of sweeplab's progress display",
    )
    return added


SWEEP_FLAGS = (
    "space",
    "trainable",
    "scheduler",
    "search",
    "num_samples",
    "max_epochs",
    "cpus_per_trial",
    "gpus_per_trial",
    "workers_per_trial",
    "max_concurrent",
    "time_budget",
    "epoch_budget",
    "max_failures",
    "seed",
    "storage",
    "name",
    "set",
    "smoke",
    "warm_start",
    "wandb",
    "quiet",
    "verbose",
)


def _analysis_args(s: argparse.ArgumentParser, many: bool = True) -> None:
    s.add_argument(
        "dirs",
        nargs="+" if many else 1,
        metavar="DIR",
        help="sweep folders (STORAGE/NAME) or storage folders holding sweeps"
        if many
        else "one sweep folder (STORAGE/NAME)",
    )
    s.add_argument(
        "--metric",
        dest="metric_name",
        metavar="METRIC",
        help="rank and choose by this metric (default: the sweep's own; required for a plain Ray Tune sweep)",
    )
    s.add_argument("--mode", choices=["min", "max"], help="its direction (default: guessed from the name)")


class _FlagError(Exception):
    """A bad command line, said in one line (argparse would print its usage block first)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # subcommand parsers are made of this class too
        command = self.prog.partition(" ")[2]
        raise _FlagError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sweeplab", description="Hyperparameter search for the report models on Ray Tune.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="experiments and shipped space files")
    s.set_defaults(func=read_commands.list_command)

    s = sub.add_parser("show", help="one experiment: metric, resources, spaces and presets")
    s.add_argument("id", help="experiment id (sweeplab list)")
    s.set_defaults(func=read_commands.show_command)

    s = sub.add_parser(
        "tune",
        help="run a sweep",
        description="Run a sweep of an experiment (its default space) or of a shipped or given space file.",
    )
    _sweep_flags(s)
    s.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray started in-process)")
    s.add_argument("--num-cpus", type=int, help="CPUs of the in-process local Ray (default: all)")
    s.add_argument(
        "--dashboard",
        action="store_true",
        help="local Ray with its dashboard on 127.0.0.1:8265, and sweeplab's on :8266; prints both URLs",
    )
    s.set_defaults(func=_tune)

    s = sub.add_parser(
        "submit",
        help="run a sweep as a job on a Ray cluster (ray job submit)",
        description="Submit `sweeplab tune ...` to a Ray cluster's job API: the same flags as tune, "
        "checked here first. Token authentication is used when a token is at hand.",
    )
    _sweep_flags(s)
    s.add_argument(
        "--address",
        metavar="URL",
        help="the cluster's job API (default: $RAY_API_SERVER_ADDRESS, else "
        "http://127.0.0.1:8265, e.g. through `ray dashboard cluster.yaml`)",
    )
    s.add_argument(
        "--follow", action="store_true", help="stream the job's logs until it ends; exit 0 only if it succeeded"
    )
    s.add_argument(
        "--ship-code",
        action="store_true",
        help="upload this sweeplab package with the job (a cluster without it installed)",
    )
    s.set_defaults(func=_submit)

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
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pin a config value (repeatable), type-checked like the space file",
    )
    s.add_argument("--smoke", action="store_true", help="tiny data and 2 epochs: the same code path in seconds")
    s.add_argument("--out", help="run folder (default runs/ID-PRESET-DATE)")
    s.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    s.add_argument(
        "--threads", type=int, help="torch CPU threads (default: a trial's CPUs in a sweep, as the registry gives them)"
    )
    s.set_defaults(func=_train)

    s = sub.add_parser(
        "analyze",
        help="the reports' tables from stored sweeps: trials, epochs, confusion, schedulers",
        description="Print the report-shaped tables (Markdown) of one or more stored sweeps, with observations and conclusions.",
    )
    _analysis_args(s)
    s.add_argument("--lang", choices=["en", "es"], default="en", help="table headers and text (es: the reports' own)")
    s.add_argument(
        "--baseline",
        metavar="PRESET",
        help="the preset to compare with (default: baseline, original, or the first preset)",
    )
    s.add_argument(
        "--trial", metavar="ID", help="the trial of the per-epoch and confusion tables (default: the chosen one)"
    )
    s.add_argument(
        "--ties",
        choices=["cheapest", "best"],
        default="cheapest",
        help="the chosen config among trials statistically tied with the best: the cheapest (default) or the best",
    )
    s.add_argument("--csv", metavar="FOLDER", help="also write every table as CSV into FOLDER")
    s.set_defaults(func=read_commands.analyze_command)

    s = sub.add_parser(
        "suggest",
        help="propose the next search space from the sweep's warning signs",
        description="Write a space file that moves what overfitting, underfitting or instability call for, each change with its reason.",
    )
    _analysis_args(s, many=False)
    s.add_argument("--out", metavar="FILE", help="write the space here (default: print it)")
    s.set_defaults(func=read_commands.suggest_command)

    s = sub.add_parser(
        "best",
        help="choose a config and write it for sweeplab train --config",
        description="Choose a trial by a metric (default: the sweep's): among the trials statistically tied with "
        "the best (paired bootstrap of the stored validation predictions) the cheapest to train to its "
        "best epoch; or a second metric among near-ties, under a filter; or list the Pareto front. "
        "The file holds the config and a `chosen` block (trial, epoch, figure) that train reproduces.",
    )
    _analysis_args(s, many=False)
    s.add_argument("--then", metavar="METRIC", help="among trials within 1%% of the best, take the best on this")
    s.add_argument(
        "--where",
        metavar="EXPR",
        help="a filter over metrics and config keys: 'hidden_dim <= 64 and val_accuracy > 0.9'",
    )
    s.add_argument("--pareto", metavar="M1,M2", help="list the trials no other trial beats on all of these metrics")
    s.add_argument(
        "--ties",
        choices=["cheapest", "best"],
        default="cheapest",
        help="among trials statistically tied with the best and within one standard error of it: the "
        "cheapest (the smallest model by the registry's capacity keys, else the fewest seconds an "
        "epoch; default), or the best regardless",
    )
    s.add_argument(
        "--rule",
        choices=["one_se", "knee", "first"],
        help="a sweep of several metrics: how to choose from its Pareto front (default: the space's choose, "
        "else one_se: the best first metric, or a front trial within one standard error of it that is better "
        "on the next; knee: nearest the ideal point; first: the best first metric)",
    )
    s.add_argument("--out", metavar="FILE", help="write the chosen config here (default: print it)")
    s.set_defaults(func=read_commands.best_command)

    s = sub.add_parser(
        "report",
        help="one Markdown and one self-contained HTML report with plots",
        description="Write REPORT.md and report.html (tables, observations, conclusions, chosen config, plots, next space).",
    )
    _analysis_args(s)
    s.add_argument(
        "--out", metavar="FOLDER", help="report folder (default: SWEEP/report for one sweep, ./report for several)"
    )
    s.add_argument("--lang", choices=["en", "es"], default="en", help="table headers and text (es: the reports' own)")
    s.add_argument(
        "--baseline",
        metavar="PRESET",
        help="the preset to compare with (default: baseline, original, or the first preset)",
    )
    s.set_defaults(func=read_commands.report_command)

    s = sub.add_parser(
        "dashboard",
        help="a live web view of sweeps: trials, curves, chosen config (no Ray needed)",
        description="Serve the sweeps under the given folders (the store is read as trials report) on 127.0.0.1.",
    )
    s.add_argument(
        "dirs", nargs="*", default=["sweeps"], metavar="DIR", help="storage or sweep folders (default ./sweeps)"
    )
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 exposes it, with a warning)",
    )
    s.add_argument("--port", type=_port, default=8266, help="default 8266")
    s.set_defaults(func=read_commands.dashboard_command)
    return p


def _port(text: str) -> int:
    port = int(text)  # argparse names the flag and the text if this fails
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port}: a port is 0-65535")
    return port


_port.__name__ = "port"  # argparse's "invalid port value: 'x'"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _FlagError as e:
        print(f"sweeplab: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    try:
        settings.load()  # sweeplab's environment variables, read once, as the command starts
        return args.func(args)
    except UserError as e:
        print(f"sweeplab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in (
            errno.ENOSPC,
            errno.EDQUOT,
            errno.EROFS,
        ):  # not the disk giving out: a bug, with its traceback
            raise
        where = e.filename or next(
            (f"--{k} {v}" for k in ("out", "storage", "csv") if (v := getattr(args, k, None))), "a file"
        )
        print(f"sweeplab: error: {where}: {(e.strerror or str(e)).lower()} (writing there failed)", file=sys.stderr)
        return 2
    except stopping.Terminated:  # before or after a sweep ran (fit has its own): nothing to resume from here
        stopping.kill_descendants()  # what this process started (a local Ray), whose exit would wait on it
        print("sweeplab: stopped (SIGTERM)", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(stopping.EXIT[signal.SIGTERM])  # not Ray's exit handler: 30 s on a GCS that is gone
    except KeyboardInterrupt:
        print("sweeplab: interrupted", file=sys.stderr)
        return 130


def main_entry() -> None:
    stopping.terminate_as_interrupt()  # SIGTERM before a sweep runs (while Ray starts): one line, exit 143
    try:
        code = main()
        sys.stdout.flush()  # within the try: a pipe closed early fails here, not in Python's exit
    except BrokenPipeError:  # `sweeplab list | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        sys.exit(0)
    sys.exit(code)
