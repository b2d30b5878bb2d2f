"""``sweeplab train``: one config trained in this process with no Ray, and the session
that keeps its history and checkpoints in a run folder (``LocalSession``, which tests and
benchmarks use too). ``single_config`` builds the config from a space file, a preset, a
``--config`` file (with the epoch ``sweeplab best`` chose) and ``--set``; ``train_one``
trains and tests it. The same engine runs inside Tune trials (runner.py).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from . import domains, engine, registry, spaces
from .config import BaseConfig
from .errors import UserError
from .schema import IS_BEST, is_test


class LocalSession(engine.Session):
    """No Ray: prints each epoch, keeps the history and the latest checkpoint in ``out``."""

    def __init__(
        self,
        out: Path,
        cpus: Optional[int] = None,
        resume: bool = False,
        echo: Callable[[str], None] = print,
        device: Optional[str] = None,
    ):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.resume, self.echo = resume, echo
        self.history: list[dict[str, Any]] = []
        if cpus:
            torch.set_num_threads(cpus)
        self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def device(self) -> torch.device:
        return self._device

    def artifact_dir(self) -> Optional[str]:
        return str(self.out)

    def checkpoint_dir(self) -> Optional[str]:
        ckpt = self.out / "checkpoint"
        return str(ckpt) if self.resume and ckpt.exists() else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: Optional[str]) -> None:
        self.history.append(dict(metrics))
        with open(self.out / "history.jsonl", "a") as f:
            f.write(json.dumps(metrics, default=float) + "\n")
        if checkpoint_dir:
            # "checkpoint": the latest, what --resume continues; "best": the best epoch's weights
            for name in ("checkpoint", "best") if metrics.get(IS_BEST) else ("checkpoint",):
                target = self.out / name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(checkpoint_dir, target)
        # the held-out split is reported once, for the epoch the run ends on (cli), not beside every epoch
        shown = {
            k: v
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not is_test(k)
        }
        self.echo("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))


@dataclass(frozen=True)
class Chosen:
    """What ``sweeplab best`` recorded beside a config: the epoch its figure comes from."""

    epoch: int
    metric: str
    value: Optional[float]
    trial: str = "?"
    sweep: str = "?"
    others: tuple[tuple[str, float], ...] = ()  # a sweep of several objectives: the rest of them at that epoch


def _chosen_block(config_file: str, raw: dict[str, Any], cfg: BaseConfig) -> Optional[Chosen]:
    """The ``chosen`` block of a best.yaml, checked against the config it was written with."""
    from . import chosen

    block = raw.pop(chosen.CHOSEN_KEY, None)
    if block is None:
        return None
    if not isinstance(block, dict) or not isinstance(block.get("epoch"), int) or block["epoch"] < 1:
        raise UserError(f"{config_file}: {chosen.CHOSEN_KEY}.epoch: a whole number >= 1 (the chosen epoch) is needed")
    sha = block.get("config_sha")
    if sha is not None and sha != chosen.digest(raw):
        raise UserError(
            f"{config_file}: the config was edited after `sweeplab best` chose epoch {block['epoch']} "
            f"for it (config_sha {sha} no longer matches); delete the '{chosen.CHOSEN_KEY}' block "
            "to train the edited config to its full budget"
        )
    if block["epoch"] > cfg.epochs:
        raise UserError(
            f"{config_file}: {chosen.CHOSEN_KEY}.epoch {block['epoch']} is past the config's "
            f"epochs {cfg.epochs}; the epoch no longer matches its config"
        )
    value = block.get("value")
    return Chosen(
        epoch=block["epoch"],
        metric=str(block.get("metric", "?")),
        value=float(value) if isinstance(value, (int, float)) else None,
        trial=str(block.get("trial", "?")),
        sweep=str(block.get("sweep", "?")),
        others=tuple(
            (str(k), float(v))
            for k, v in (block.get("objectives") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ),
    )


def single_config(
    target: str,
    preset: Optional[str],
    config_file: Optional[str],
    sets: list[str],
    smoke: bool,
    space: Optional[str] = None,
) -> tuple[registry.Experiment, Any, Optional[Chosen]]:
    """One config for ``sweeplab train``: defaults < space's fixed < preset < --config < smoke < --set;
    with the epoch a sweep chose, where ``--config`` is a file written by ``sweeplab best``."""
    exp, path = spaces.resolve_target(target, space)
    if exp is None:
        raise UserError(f"{path}: names no 'experiment'")
    config_cls = exp.load().config
    spec = spaces.load(path, config_cls, exp.id)
    values = dict(spec.fixed)
    if preset:
        presets = spec.preset_configs()
        if preset not in presets:
            raise UserError(f"{path}: no preset '{preset}'; presets: {', '.join(presets) or '(none)'}")
        values.update(presets[preset])
    raw: dict[str, Any] = {}
    if config_file:
        from . import chosen

        _, raw = spaces.read(Path(config_file))
        types = spaces.field_types(config_cls)
        for key, value in raw.items():
            if key not in types and key != chosen.CHOSEN_KEY:
                raise UserError(
                    f"{config_file}: {key}: not a field of {config_cls.__name__}; allowed: {', '.join(sorted(types))}"
                )
            problem = domains.number_problem(value)
            if problem:
                raise UserError(f"{config_file}: {key}: {problem}")
        values.update({k: v for k, v in raw.items() if k != chosen.CHOSEN_KEY})
    if smoke:
        for key, value in exp.smoke.items():  # as `tune --smoke` pins them: a key that is no field fails
            spec.pin(key, value, origin="smoke")
            values[key] = spec.fixed[key]
    pins = spec.pin_sets(sets)
    values.update(pins)
    cfg = config_cls.from_dict(values)
    picked = _chosen_block(config_file, dict(raw), cfg) if config_file else None
    if picked and (smoke or pins):
        # a changed config no longer has the sweep's figure to reproduce; train it in full
        print(
            f"note: --set/--smoke change {config_file}'s config: training it to its full budget, "
            f"not to the chosen epoch {picked.epoch}"
        )
        picked = None
    return exp, cfg, picked


def train_one(
    exp: registry.Experiment,
    cfg: BaseConfig,
    out: Path,
    threads: Optional[int] = None,
    resume: bool = False,
    chosen: Optional[Chosen] = None,
) -> dict[str, Any]:
    """``sweeplab train``: one config, no Ray; history, checkpoints (latest and best epoch),
    config and the best epoch's metrics (its test metrics included) land in ``out``.

    Threads default to a trial's (the registry's CPUs): the same numbers as in a sweep, and
    small models run far faster on one thread than on many. ``chosen``: train to the epoch
    a sweep chose (same schedules as the full budget) and check its validation figure."""
    if (out / "history.jsonl").exists() and not resume:
        raise UserError(f"{out} holds a run already; add --resume to continue it or pick another --out")
    if resume and not (out / "checkpoint").exists():
        raise UserError(f"{out}: no checkpoint to resume from")
    trainable = exp.load()
    data = trainable.load_data(cfg)
    threads = threads or max(1, int(exp.resources.cpu))
    print(f"{exp.id}: {cfg}")
    if chosen:
        print(
            f"training to epoch {chosen.epoch} of {cfg.epochs}, the epoch `best` chose "
            f"(trial {chosen.trial}: {chosen.metric} {chosen.value if chosen.value is not None else '?'})"
        )
    try:
        row = engine.fit(
            trainable.task,
            cfg,
            data,
            LocalSession(out, cpus=threads, resume=resume),
            engine.Monitor(exp.metric, exp.mode),
            until=chosen.epoch if chosen else None,
        )
    except (MemoryError, RuntimeError) as e:  # torch's allocator says "can't allocate memory" as a RuntimeError
        if not isinstance(e, MemoryError) and "allocate" not in str(e):
            raise
        asked = re.search(r"tried to allocate (\d+) bytes", str(e))
        what = f"a tensor of {int(asked.group(1)) / 2**30:,.1f} GiB" if asked else type(e).__name__
        raise UserError(f"{exp.id}: this config does not fit in memory ({what}): {cfg}") from None
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    (out / "metrics.json").write_text(json.dumps(row, indent=2, default=float))
    if chosen and chosen.value is not None and chosen.metric in row:
        got = float(row[chosen.metric])
        same = round(got, 3) == round(chosen.value, 3)
        print(
            f"{chosen.metric} at epoch {row.get('epoch')}: {got:.6g} (the sweep's: {chosen.value:.6g}"
            f"{'; reproduced' if same else '; NOT reproduced: different hardware, threads or library versions?'})"
        )
    for metric, value in chosen.others if chosen else ():
        if metric not in row:
            continue
        got = float(row[metric])
        if metric in registry.TIMES:  # a duration: this machine's now, not a figure to reproduce to the digit
            print(f"{metric} at epoch {row.get('epoch')}: {got:.6g} (the sweep's: {value:.6g}; a time, measured again)")
        else:
            same = round(got, 3) == round(value, 3)
            print(
                f"{metric} at epoch {row.get('epoch')}: {got:.6g} (the sweep's: {value:.6g}"
                f"{'; reproduced' if same else '; NOT reproduced'})"
            )
    return row
