"""A validated sweep (``Spec``): what a space file resolved to, the one-run overrides on it
(``--set``, smoke, ``--max-epochs``), the checks that every config it can give is valid,
and what Tune gets from it. ``spaces`` reads and validates the files that become one."""

from __future__ import annotations

import math

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

from .config import BaseConfig, coerce, field_types, type_problem
from .domains import Param, number_problem
from .errors import UserError
from .schema import is_remote
from .search.pareto import Constraint


@dataclass
class Spec:
    """A validated sweep file (and the pins applied on top of it)."""

    source: str
    text: str
    experiment: Optional[str]
    metric: Optional[str]  # under several objectives, the first of them
    mode: Optional[Literal["min", "max"]]
    search: str
    scheduler: dict[str, Any]
    parameters: dict[str, Param]
    fixed: dict[str, Any]
    presets: dict[str, dict[str, Any]]
    num_samples: Optional[int]
    time_budget: Optional[float]
    resources: dict[str, float]
    config_cls: Optional[type[BaseConfig]] = None
    pins: dict[str, Any] = field(default_factory=dict)
    pinned_by: dict[str, str] = field(default_factory=dict)  # key -> "--set" / "smoke"
    epochs_cap: Optional[int] = None  # --max-epochs: the most epochs a trial may train (not the sweep's --epoch-budget)
    notes: list[str] = field(default_factory=list)  # said once when a sweep starts
    # the config's defaults where its class is not loaded (suggest reads them from sweep.json)
    defaults: dict[str, Any] = field(default_factory=dict)
    # several objectives (W&B's ``metrics:``), limits on reported metrics, and how ``best``
    # chooses from the front (spaces.CHOICE_RULES); a single-objective space has none
    objectives: list[tuple[str, Literal["min", "max"]]] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    choose: str = "one_se"

    # -------------------------------------------------- overrides (one run only)

    def pin(self, key: str, value: Any, origin: str = "--set") -> None:
        """Fix ``key`` for this run: a fixed value or a parameter taken out of the search."""
        if self.config_cls is not None:
            types = field_types(self.config_cls)
            if key not in types:
                raise UserError(
                    f"{origin} {key}: not a field of {self.config_cls.__name__}; allowed: {', '.join(sorted(types))}"
                )
            value = coerce(value, types[key])
            problem = type_problem(value, types[key]) or number_problem(value)
            if problem:
                raise UserError(f"{origin} {key}: {problem}")
            if key in self.path_fields():
                value = _absolute(value)
        self.parameters.pop(key, None)
        self.fixed[key] = value
        self.pins[key] = value
        self.pinned_by[key] = origin
        for preset in self.presets.values():
            preset.pop(key, None)

    def pin_sets(self, items: Sequence[str]) -> dict[str, Any]:
        """``--set KEY=VALUE`` items, pinned in order; returns the typed values."""
        pinned = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UserError(f"--set {item!r}: expected KEY=VALUE")
            self.pin(key.strip(), value)
            pinned[key.strip()] = self.fixed[key.strip()]
        return pinned

    def path_fields(self) -> dict[str, bool]:
        return getattr(self.config_cls, "PATH_FIELDS", {})

    def absolute_paths(self) -> None:
        """Relative paths in path fields made absolute, against this process's working
        directory: trials run in folders of their own."""
        for key in self.path_fields():
            if key in self.fixed:
                self.fixed[key] = _absolute(self.fixed[key])
            param = self.parameters.get(key)
            if param is not None and param.values is not None:
                param.values = [_absolute(v) for v in param.values]
            for preset in self.presets.values():
                if key in preset:
                    preset[key] = _absolute(preset[key])

    def check_paths(self) -> None:
        """Every input file or folder trials would read exists (a trial would only fail once
        Ray is up, each on its own)."""
        for key, needed in self.path_fields().items():
            searched = self.parameters[key].values or [] if key in self.parameters else []
            for value in [self.fixed[key]] if key in self.fixed else searched:
                if needed and _local(value) and not os.path.exists(value):
                    where = (
                        f"{self.pinned_by[key]} {key}"
                        if key in self.pinned_by
                        else f"{self.source}: {'fixed' if key in self.fixed else 'parameters'}.{key}"
                    )
                    raise UserError(f"{where}: {value}: no such file or folder")

    def check_configs(self) -> None:
        """Every value the sweep can give builds a valid config (the dataclass's own range
        and cross-field checks), each against the fixed values, and so does every preset:
        a bad value fails now, naming where it came from, not in each trial once Ray is up."""
        config_cls = self.config_cls
        if config_cls is None:
            return

        def build(values: dict[str, Any], where: str) -> None:
            try:
                config_cls.from_dict(values)
            except UserError as e:
                raise UserError(f"{where}: {e}") from None

        named = [k for k in self.fixed if k in self.pinned_by] + [k for k in self.fixed if k not in self.pinned_by]
        try:
            config_cls.from_dict(dict(self.fixed))
        except UserError as e:
            key = next((k for k in named if f"'{k}'" in str(e)), None)
            where = (
                self.source
                if key is None
                else (f"{self.pinned_by[key]} {key}" if key in self.pinned_by else f"{self.source}: fixed.{key}")
            )
            raise UserError(f"{where}: {e}") from None
        for key, p in self.parameters.items():
            tried: Sequence[Any]
            if p.values is not None:
                tried = p.values
            elif p.distribution in ("normal", "q_normal"):
                tried = []
            else:
                tried = p.bounds()
            for value in tried:
                build({**self.fixed, key: value}, f"{self.source}: parameters.{key} = {value!r}")
        for name, values in self.preset_configs().items():
            build(values, f"{self.source}: presets.{name}")

    def set_epochs(self, max_epochs: int) -> None:
        """--max-epochs N: a trial may train up to N epochs. A fixed budget becomes N, raised
        or lowered; a searched ``epochs`` (a hyperparameter) keeps its values up to N; no
        preset goes past N; the scheduler's horizon is N either way (``max_epochs``)."""
        self.epochs_cap = max_epochs
        if "epochs" in self.parameters:
            p = self.parameters["epochs"]
            if p.values is not None:
                p.values = sorted({min(v, max_epochs) for v in p.values})
            else:
                lo, hi = p.limits()
                p.max = min(hi, max_epochs)
                p.min = min(lo, p.max)
        else:
            self.fixed["epochs"] = max_epochs
        for preset in self.presets.values():
            if "epochs" in preset:
                preset["epochs"] = min(preset["epochs"], max_epochs)

    def max_epochs(self) -> Optional[int]:
        if self.epochs_cap:
            return self.epochs_cap
        if "epochs" in self.parameters:
            p = self.parameters["epochs"]
            return int(max(p.values) if p.values is not None else p.limits()[1])
        if "epochs" in self.fixed:
            return int(self.fixed["epochs"])
        return getattr(self.config_cls, "epochs", None) if self.config_cls else None

    # -------------------------------------------------- what Tune gets

    def param_space(self) -> dict[str, Any]:
        grid = self.search == "grid"
        return {**self.fixed, **{k: p.domain(grid=grid) for k, p in self.parameters.items()}}

    def trials_expected(self, num_samples: int) -> int:
        """Trials a sweep of ``num_samples`` makes: a grid runs every combination of its
        values that many times (Ray's grid_search), any other search one config a sample."""
        if self.search != "grid":
            return num_samples
        return num_samples * math.prod(len(p.values or ()) or 1 for p in self.parameters.values())

    def points_to_evaluate(self) -> list[dict[str, Any]]:
        """Presets, each completed over the searched parameters (config defaults)."""
        return [{k: v for k, v in full.items() if k in self.parameters} for full in self.preset_configs().values()]

    def preset_configs(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, values in self.presets.items():
            full = dict(self.fixed)
            for key, param in self.parameters.items():
                if key in values:
                    full[key] = values[key]
                    continue
                default = _default(self.config_cls, key) if self.config_cls else self.defaults.get(key, _MISSING)
                if default is _MISSING or not param.contains(default):
                    raise UserError(
                        f"{self.source}: presets.{name}: gives no '{key}' and the default "
                        f"{'(none)' if default is _MISSING else repr(default)} is outside the space ({param.describe()})"
                    )
                full[key] = default
            out[name] = full
        return out


_MISSING = object()


def _local(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not is_remote(value)


def _absolute(value: Any) -> Any:
    return os.path.abspath(os.path.expanduser(value)) if _local(value) else value


def _default(cls: Optional[type], key: str) -> Any:
    if cls is None:
        return _MISSING
    for f in dataclasses.fields(cls):
        if f.name == key:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    return _MISSING
