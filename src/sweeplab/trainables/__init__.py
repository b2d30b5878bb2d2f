"""Per model, one module whose ``TRAINABLE`` is all the rest of sweeplab reads of it: the
frozen config, the Task (the hooks the engine calls), how its data loads and what the data
depends on. This package itself is light: importing it imports no trainable, nor torch."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

if TYPE_CHECKING:
    from ..config import BaseConfig
    from ..engine import Session, Task

C = TypeVar("C", bound="BaseConfig")  # the trainable's own config class: its task and loaders take that one


@dataclass(frozen=True)
class Trainable(Generic[C]):
    """What a trainable module gives the rest of sweeplab: its ``TRAINABLE``."""

    # A Tune config dict becomes one of these (``config.from_dict``); its HOT_FIELDS are the
    # fields PBT may change mid-training (the spec holds the class, so they stay on it).
    config: type[C]
    task: Callable[[C, Any, Session], Task]  # one a trial, on that trial's data
    load_data: Callable[[C], Any]
    data_fields: tuple[str, ...]  # the config fields the data depends on, besides ``data``
    check_data: Optional[Callable[[C], None]] = None  # cheaper than a load, where there is one

    def __post_init__(self) -> None:
        names = {f.name for f in dataclasses.fields(self.config)}
        unknown = [k for k in self.data_fields if k not in names]
        if unknown:  # a data key missing a field would hand a trial another trial's data
            raise TypeError(f"{self.config.__name__}: data_fields {unknown} are not fields of it")

    def check(self, cfg: C) -> None:
        """Fail now on bad data ``cfg`` names: ``check_data``, else a load (which also fills
        the on-disk caches trials share)."""
        (self.check_data or self.load_data)(cfg)

    def data_key(self, cfg: C) -> tuple:
        """Equal keys, same data: what a process's data cache and the driver's shared copy match on."""
        return (self.config.__module__, *(getattr(cfg, f) for f in ("data", *self.data_fields)))


def load(module: str) -> Trainable:
    """The ``TRAINABLE`` of the module at dotted path ``module`` (imports it, and torch)."""
    found = getattr(importlib.import_module(module), "TRAINABLE", None)
    if not isinstance(found, Trainable):
        raise TypeError(f"{module}: defines no TRAINABLE = Trainable(...)")
    return found
