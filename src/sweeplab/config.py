"""Frozen config dataclasses: the base every model's config extends, and strict parsing.

A trainable's first act is ``Config.from_dict(tune_config)``: an unknown or misspelt key,
a value of the wrong type or outside a ``Literal`` fails loudly, naming the key.
The same type checks validate search-space files before Ray starts.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Literal, Optional, Union, get_args, get_origin

from .errors import UserError

_NoneType = type(None)
SEED_LIMIT = 2**32  # numpy's seeds are 32-bit


@dataclass(frozen=True)
class BaseConfig:
    """Fields the engine reads; every model config inherits them."""

    data: Optional[str] = None  # a file or folder; None = the generated default
    seed: int = 0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr_schedule: Literal["none", "plateau", "cosine", "linear"] = "none"
    warmup_epochs: int = 0
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    clip_grad_norm: float = 0.0  # 0 = no clipping
    early_stop_patience: int = 0  # 0 = never stop early
    amp: bool = False  # bf16 autocast, only where the trial holds a GPU

    # Fields PBT may change mid-training: a restored checkpoint still fits the model.
    HOT_FIELDS: ClassVar[tuple[str, ...]] = ("lr", "weight_decay", "clip_grad_norm", "batch_size")
    # Fields naming files or folders -> must it exist first (an input, not a cache). The driver
    # makes them absolute: trials run in working directories of their own.
    PATH_FIELDS: ClassVar[dict[str, bool]] = {"data": True}

    def __post_init__(self) -> None:
        hints = field_types(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # YAML gives lists; frozen configs keep tuples
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            problem = type_problem(value, hints[f.name])
            if problem:
                raise UserError(f"{type(self).__name__}: key '{f.name}' {problem}")
        if not 0 <= self.seed < SEED_LIMIT:
            raise UserError(f"{type(self).__name__}: key 'seed' must be in [0, 2**32), got {self.seed}")
        if self.epochs < 1:
            raise UserError(f"{type(self).__name__}: key 'epochs' must be >= 1, got {self.epochs}")

    def require_at_least(self, minimums: Iterable[tuple[str, float]]) -> None:
        for key, least in minimums:
            if getattr(self, key) < least:
                raise UserError(f"{type(self).__name__}: key '{key}' must be >= {least}, got {getattr(self, key)}")

    def require_fraction(self, *keys: str) -> None:
        """Each in [0, 1): dropouts, smoothing, Adam's betas."""
        for key in keys:
            if not 0 <= getattr(self, key) < 1:
                raise UserError(f"{type(self).__name__}: key '{key}' must be in [0, 1), got {getattr(self, key)}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BaseConfig":
        unknown = sorted(set(values) - set(field_types(cls)))
        if unknown:
            raise UserError(
                f"{cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(sorted(field_types(cls)))}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


NUMBER_KINDS = {int: "int", float: "float", bool: "bool"}


def fields_record(cls: type) -> dict[str, dict[str, Any]]:
    """What a reader of the results store needs of a config class, as JSON (sweep.json
    keeps it): each field's default, and its kind where it is a plain number ("int",
    "float", "bool"), so suggest and report need not import the trainable (and torch)."""
    types = field_types(cls)
    out = {}
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        out[f.name] = {
            "kind": NUMBER_KINDS.get(types[f.name], "other"),
            "default": list(default) if isinstance(default, tuple) else default,
        }
    return out


def kinds_of(record: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``fields_record``'s kinds back as types (int, float, bool; object for the rest)."""
    back = {v: k for k, v in NUMBER_KINDS.items()}
    return {name: back.get(f.get("kind", ""), object) for name, f in record.items()}


def describe_type(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, get_args(tp)))
    if origin is Union:
        return " or ".join(describe_type(a) for a in get_args(tp))
    if origin is tuple:
        return "a list"
    if tp is _NoneType:
        return "null"
    return getattr(tp, "__name__", str(tp))


def type_problem(value: Any, tp: Any) -> Optional[str]:
    """None when ``value`` fits ``tp``; otherwise what is wrong, for an error message."""
    if _fits(value, tp):
        return None
    return f"must be {describe_type(tp)}, got {value!r} ({type(value).__name__})"


def _fits(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if tp is Any:
        return True
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in get_args(tp))
    if origin is Union:
        return any(_fits(value, a) for a in get_args(tp))
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (tuple, list)):
            return False
        inner = args[0] if args else Any
        return all(_fits(v, inner) for v in value)
    if tp is _NoneType:
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return isinstance(value, tp)


def coerce(value: Any, tp: Any) -> Any:
    """Turn a ``--set`` string into the field's type (YAML scalars first, then checks)."""
    import yaml

    parsed = yaml.safe_load(value) if isinstance(value, str) else value
    if isinstance(parsed, str) and not _fits(parsed, tp):
        try:  # YAML 1.1 reads 1e-3 as text
            parsed = float(parsed)
        except ValueError:
            pass
    if _fits(parsed, tp):
        return float(parsed) if tp is float and isinstance(parsed, int) else parsed
    if _fits(value, tp):  # a str field whose text YAML would read as something else
        return value
    return parsed
