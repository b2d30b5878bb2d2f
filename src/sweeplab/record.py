"""sweep.json: one frozen, typed, versioned record of a sweep (``SweepRecord``), written and
read only here (plan.record_of builds a new sweep's). ``tune`` writes it once as the sweep starts (the store's first flush) and
stamps how it ended; ``resume``, ``--warm-start``, ``suggest``, ``analyze``, ``report`` and
the dashboard read it through ``read``.

Another sweeplab's file reads too: a key this version does not know is kept (and written
back by ``update``) and named in a note; a key it lacks takes its default. A value of the
wrong JSON type is a damaged file: one line naming the file and the key."""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

from . import files
from .files import CorruptStore
from .secrets import redact
from .options import SchedulerSpec, SweepOptions

SWEEP_JSON = "sweep.json"
VERSION = 2  # 1: sweep.json before it carried its version (read as it is: the keys are the same)
CODE = "code"  # versions' key: the digest of the code that computed the trials (known.py)


@dataclass(frozen=True)
class SweepRecord:
    """What a sweep was (its space, search, budgets, versions) and how it ended. Every field
    defaults, so a record of a plain Ray Tune folder (no sweep.json) is ``SweepRecord()``."""

    experiment: Optional[str] = None  # registry id; None for a user's trainable
    trainable: Optional[str] = None  # the trainable module (registry) or path/file.py:function (user)
    space_file: Optional[str] = None
    space: Optional[str] = None  # the space file's text (secrets masked)
    pins: Mapping[str, Any] = field(default_factory=dict)  # --set values
    config_fields: Optional[Mapping[str, Any]] = None  # config.fields_record: what suggest reads without torch
    metric: Optional[str] = None  # under several objectives, the first of them
    mode: Optional[str] = None
    objectives: Mapping[str, str] = field(default_factory=dict)  # several: metric -> min/max, in order
    constraints: tuple[str, ...] = ()  # "epoch_seconds <= 2.0"
    choose: Optional[str] = None  # how best chooses from the front (spaces.CHOICE_RULES)
    scheduler: Optional[SchedulerSpec] = None
    searcher: Optional[str] = None
    seed: Optional[int] = None
    num_samples: Optional[int] = None
    trials_expected: Optional[int] = None  # a grid: every combination, num_samples times
    epoch_budget: Optional[int] = None
    time_budget_s: Optional[float] = None
    resources: Optional[Mapping[str, Any]] = None  # the TrialPlan of a registry experiment
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: Optional[SweepOptions] = None  # the flags, as resume gives them again
    started: Optional[str] = None  # ISO time
    versions: Mapping[str, str] = field(default_factory=dict)  # python, ray, optuna, torch, sweeplab, code
    name: Optional[str] = None
    storage: Optional[str] = None
    masked: tuple[str, ...] = ()  # secret-named fixed values, stored as ***
    table: Optional[Mapping[str, Any]] = None  # registry.table_declaration as the sweep ran
    ended: Optional[str] = None  # when Tune ran out of trials (ISO time); a resume clears it
    time_budget_spent: Optional[str] = None  # when the time budget ended the sweep (ISO time)
    saves_no_checkpoint: bool = False  # promotion found a trial with no checkpoint to resume from
    version: int = VERSION
    unknown: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know, kept

    @property
    def scheduler_name(self) -> str:
        return self.scheduler.name if self.scheduler else "?"

    @property
    def searcher_name(self) -> str:
        return self.searcher or "?"

    @property
    def code(self) -> Optional[str]:
        return self.versions.get(CODE)

    @property
    def user_trainable(self) -> Optional[str]:
        """The user's ``--trainable`` (path/file.py:function), None for a registry experiment."""
        return self.options.trainable if self.options else None

    @property
    def smoke(self) -> bool:
        return bool(self.options and self.options.smoke)


# the fields stored under another key, or as two
_KEYS = {"version": "record_version", "saves_no_checkpoint": "trainable_saves_no_checkpoint"}
_SCHEDULER_OPTIONS = "scheduler_options"  # the scheduler's settings beside its name ("scheduler")
_STAMPS = ("ended", "time_budget_spent", "saves_no_checkpoint")  # how it ended: absent until then


# ------------------------------------------------------------------ JSON


def to_json(record: SweepRecord) -> dict[str, Any]:
    """As sweep.json holds it (the key layout of every earlier sweeplab, plus its version)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name == "unknown":
            continue
        value = getattr(record, f.name)
        if f.name == "scheduler":
            out["scheduler"] = value.name if value else None
            out[_SCHEDULER_OPTIONS] = value.as_dict() if value else None
            continue
        if f.name in _STAMPS and not value:
            continue  # written once it happened
        out[_KEYS.get(f.name, f.name)] = _plain(value)
    return {**out, **record.unknown}


def from_json(obj: Any, where: str) -> SweepRecord:
    """The record a sweep.json object holds; CorruptStore (naming ``where`` and the key) if
    a value has the wrong type."""
    if not isinstance(obj, dict):
        raise CorruptStore(where, "not a JSON object")
    obj, versioned = dict(obj), _KEYS["version"] in obj
    sched_name, sched_opts = obj.pop("scheduler", None), obj.pop(_SCHEDULER_OPTIONS, None)
    kw: dict[str, Any] = {}
    hints = typing.get_type_hints(SweepRecord)
    for f in dataclasses.fields(SweepRecord):
        key = _KEYS.get(f.name, f.name)
        if f.name in ("scheduler", "unknown") or key not in obj:
            continue
        kw[f.name] = _typed(obj.pop(key), hints[f.name], where, key)
    kw["scheduler"] = _scheduler(sched_name, sched_opts, where)
    if not versioned:
        kw["version"] = 1
    kw["unknown"] = obj
    return SweepRecord(**kw)


def _scheduler(name: Any, options: Any, where: str) -> Optional[SchedulerSpec]:
    if name is None and options is None:
        return None
    if options is not None and not isinstance(options, dict):
        raise CorruptStore(where, f"{_SCHEDULER_OPTIONS}: expected an object, got {json.dumps(options)[:60]}")
    conf = dict(options or {})
    conf["name"] = name if name is not None else conf.get("name")
    if not isinstance(conf["name"], str):
        raise CorruptStore(where, f"scheduler: expected text, got {json.dumps(conf['name'])[:60]}")
    hints = typing.get_type_hints(SchedulerSpec)
    for key, value in conf.items():
        if key in hints and key != "name":
            conf[key] = _typed(value, hints[key], where, f"{_SCHEDULER_OPTIONS}.{key}")
    return SchedulerSpec.from_dict(conf)


def _typed(value: Any, hint: Any, where: str, key: str) -> Any:
    """``value`` (from JSON) as the type ``hint`` says, or CorruptStore naming ``key``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _typed(value, inner, where, key)
    if hint is SweepOptions:
        return _options(value, where, key)
    expected, ok = _KINDS.get(origin or hint, (None, None))
    if ok is None:
        raise TypeError(f"record: no reader for {hint}")  # a field added without its reader
    if not ok(value):
        raise CorruptStore(where, f"{key}: expected {expected}, got {json.dumps(value)[:60]}")
    if origin is tuple:
        if not all(isinstance(v, str) for v in value):
            raise CorruptStore(where, f"{key}: expected a list of text, got {json.dumps(value)[:60]}")
        return tuple(value)
    return float(value) if hint is float else value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_KINDS: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    str: ("text", lambda v: isinstance(v, str)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", _number),
    bool: ("true or false", lambda v: isinstance(v, bool)),
    tuple: ("a list", lambda v: isinstance(v, list)),
    dict: ("an object", lambda v: isinstance(v, dict)),
    collections.abc.Mapping: ("an object", lambda v: isinstance(v, dict)),
}


def _options(value: Any, where: str, key: str) -> SweepOptions:
    """The flags a sweep ran with; one this version does not know is left out (named by
    ``unknown_keys``), a missing one takes its default."""
    if not isinstance(value, dict):
        raise CorruptStore(where, f"{key}: expected an object, got {json.dumps(value)[:60]}")
    hints = typing.get_type_hints(SweepOptions)
    known = {f.name for f in dataclasses.fields(SweepOptions)}
    kw = {k: _typed(v, hints[k], where, f"{key}.{k}") for k, v in value.items() if k in known}
    return SweepOptions(**kw)


def unknown_keys(rec: SweepRecord, obj: Mapping[str, Any]) -> list[str]:
    """The keys of a sweep.json object this version does not read: those ``from_json`` kept
    aside, and ``options.<flag>`` for a flag it does not know."""
    out = sorted(rec.unknown)
    opts = obj.get("options")
    if isinstance(opts, dict):
        flags = {f.name for f in dataclasses.fields(SweepOptions)}
        out += sorted(f"options.{k}" for k in opts if k not in flags)
    return out


def _plain(value: Any) -> Any:
    """A field's value as JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------ files


def path(sweep_uri: str) -> str:
    return files.join(sweep_uri, SWEEP_JSON)


def exists(sweep_uri: str) -> bool:
    return files.exists(path(sweep_uri))


def read(sweep_uri: str) -> SweepRecord:
    """The sweep's record; CorruptStore (one line naming the file) if it is not one."""
    uri = path(sweep_uri)
    obj = files.read_json(uri)
    rec = from_json(obj, uri)
    extra = unknown_keys(rec, obj)
    if extra and uri not in _NOTED:
        _NOTED.add(uri)
        newer = f" (record version {rec.version}, this sweeplab reads {VERSION})" if rec.version > VERSION else ""
        print(
            f"note: {uri}: written by another sweeplab{newer}; keys this version does not read, kept as "
            f"they are: {', '.join(extra)}",
            file=sys.stderr,
        )
    return rec


def read_if_any(sweep_uri: str) -> SweepRecord:
    """The record, or an empty one where the folder has no sweep.json (a plain Ray Tune sweep)."""
    return read(sweep_uri) if exists(sweep_uri) else SweepRecord()


_NOTED: set[str] = set()  # files whose unknown keys were said (once a process)


def write(sweep_uri: str, record: SweepRecord) -> None:
    """Every secret the environment names masked, as in every stored text (secrets.py)."""
    files.write_json(path(sweep_uri), redact(to_json(record)))


def update(sweep_uri: str, **changes: Any) -> SweepRecord:
    """Read, change the named fields, write back (unknown keys kept); the new record."""
    record = dataclasses.replace(read(sweep_uri), **changes)
    write(sweep_uri, record)
    return record


def now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")
