"""Search-space files: the W&B sweep shape plus sweeplab's keys, validated before Ray starts.

    experiment: freq                     # sweeplab
    method: bayes                        # W&B: grid | random | bayes
    metric: {name: val_mse, goal: minimize}
    parameters:
      hidden_size: {values: [32, 64, 128]}
      lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-3}
    early_terminate: {type: hyperband, min_iter: 5, eta: 3}
    fixed: {clip_grad_norm: 1.0}          # sweeplab: values every trial gets
    presets: {tuned: {hidden_size: 64, lr: 5.0e-4}}   # tried first (points_to_evaluate)
    scheduler: {name: asha, grace_period: 5}
    search: optuna                       # optuna | random | grid (overrides method)
    num_samples: 20
    time_budget: 540                     # seconds
    resources: {cpu: 1, gpu: 0, workers: 1}

Every problem is a UserError naming the file, the key and what is allowed. What a file
becomes is a ``Spec`` (sweepspec.py): the overrides, checks and Tune's view of a sweep.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from .config import BaseConfig, field_types
from .domains import Param, _ints, _num, check_param, check_value, number_problem, parse_param
from . import registry
from .errors import UserError
from .options import SCHEDULER_KEYS, SCHEDULERS, SEARCHERS
from .schema import is_test
from .search.pareto import Constraint, parse_constraint
from .sweepspec import Spec

SPACES_DIR = Path(__file__).resolve().parent / "search_spaces"
if not SPACES_DIR.is_dir():  # a source checkout / editable install: the top-level folder
    SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"

TOP_KEYS = {
    "experiment",
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "fixed",
    "presets",
    "scheduler",
    "search",
    "num_samples",
    "time_budget",
    "resources",
    "metrics",  # W&B's multi-objective sweeps
    "constraints",
    "choose",
    "name",
    "description",
    "program",
    "command",
    "project",
    "entity",
    "run_cap",  # W&B's
}
W_AND_B_UNUSED = ("program", "command", "project", "entity")  # accepted, said to be unused
METHODS = {"grid": "grid", "random": "random", "bayes": "rung_tpe"}
# option -> (must it be an integer, is a value allowed, what is allowed)
SCHEDULER_OPTIONS = {
    "grace_period": (True, lambda v: v >= 1, "an integer >= 1"),
    "max_t": (True, lambda v: v >= 1, "an integer >= 1"),
    "brackets": (True, lambda v: v >= 1, "an integer >= 1"),
    "min_samples_required": (True, lambda v: v >= 1, "an integer >= 1"),
    "reduction_factor": (False, lambda v: v > 1, "a number > 1"),
    "perturbation_interval": (False, lambda v: v > 0, "a number > 0"),
    "quantile_fraction": (False, lambda v: 0 <= v <= 0.5, "a number in [0, 0.5]"),
    "resample_probability": (False, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
}
EARLY_TERMINATE = {"min_iter": "grace_period", "eta": "reduction_factor", "max_iter": "max_t"}  # W&B's -> ours
RESOURCE_KEYS = {"cpu", "gpu", "workers"}


class _Refused(yaml.composer.ComposerError):
    """A document too large once its aliases are expanded."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` as a string; sweep files are full of such numbers. Aliases may
    not expand a document past ``MAX_NODES`` nodes: a "billion laughs" file loads as shared
    objects, then takes all memory as soon as anything walks, copies or prints it."""

    MAX_NODES = 100_000

    def __init__(self, stream):
        super().__init__(stream)
        self._expanded, self._sizes = 0, {}

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:  # an undefined alias: the composer's own error
                if node.end_mark is None:  # still being composed: the alias is inside its anchor
                    raise _Refused(None, None, f"alias *{event.anchor} refers to itself", event.start_mark)
                self._expanded += self._size(node)
                if self._expanded > self.MAX_NODES:
                    raise _Refused(
                        None,
                        None,
                        f"its aliases expand to more than {self.MAX_NODES:,} nodes (a YAML alias bomb?)",
                        event.start_mark,
                    )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        """A key twice in one mapping is an error (YAML's own rule), not the last one silently."""
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is not None and key != "<<":
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key '{key}' given twice", key_node.start_mark
                        )
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def _size(self, node) -> int:
        """Nodes under ``node`` with its aliases expanded (memoised: aliases share nodes)."""
        if id(node) not in self._sizes:
            children = (
                [n for pair in node.value for n in pair]
                if isinstance(node, yaml.MappingNode)
                else node.value
                if isinstance(node, yaml.SequenceNode)
                else []
            )
            self._sizes[id(node)] = 1 + sum(map(self._size, children))
        return self._sizes[id(node)]


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:\d[\d_]*)?\.?\d*[eE][-+]?\d+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


class _Dumper(yaml.SafeDumper):
    """Quotes every string the space loader would read as a number (a trial id such as
    ``01e40764`` is 1e40764, inf, to it)."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def dumps(obj: Any, **kwargs: Any) -> str:
    """YAML text that ``loads`` reads back as ``obj``."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, **kwargs)


# ------------------------------------------------------------------ loading


def shipped() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SPACES_DIR.glob("*.yaml"))}


def find(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.exists() or "/" in name_or_path or os.sep in name_or_path:
        if not path.is_file():
            raise UserError(f"{name_or_path}: no such space file")
        return path
    spaces = shipped()
    stem = path.stem if path.suffix in (".yaml", ".yml") else name_or_path
    if stem in spaces:
        return spaces[stem]
    if path.suffix in (".yaml", ".yml"):
        raise UserError(f"{name_or_path}: no such space file")
    raise UserError(f"no space file named '{name_or_path}'; shipped: {', '.join(spaces)}")


def loads(text: str) -> Any:
    """YAML text as a space file reads it (``1e-4`` is a float)."""
    return yaml.load(text, Loader=_Loader)


def read(path: Path) -> tuple[str, dict]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(
            f"{path}: line {line}: not UTF-8 text (byte {e.start}: {data[e.start]:#04x}); save it as UTF-8"
        ) from None
    try:
        raw = loads(text) or {}
    except RecursionError:
        raise UserError(f"{path}: refused: nested too deep to read") from None
    except ValueError as e:  # yaml's int() of a number of more digits than Python converts
        raise UserError(f"{path}: not valid YAML ({str(e).split(';')[0].lower()})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", e)
        raise UserError(
            f"{path}:{where}: " + (f"refused: {problem}" if isinstance(e, _Refused) else f"not valid YAML ({problem})")
        ) from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a space file is a mapping (method, metric, parameters ...)")
    return text, raw


def load(path: Path, config_cls: Optional[type[BaseConfig]], experiment: Optional[str] = None) -> Spec:
    text, raw = read(path)
    return parse(raw, str(path), text, config_cls, experiment)


def parse(
    raw: dict,
    source: str,
    text: str,
    config_cls: Optional[type[BaseConfig]],
    experiment: Optional[str],
    defaults: Optional[dict[str, Any]] = None,
) -> Spec:
    """``defaults``: the config's defaults where ``config_cls`` is not loaded (presets are
    completed from them)."""
    err = _errors(source)
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        err(
            unknown[0],
            f"unknown key; allowed: {', '.join(sorted(TOP_KEYS - {'name', 'description', 'program', 'command', 'project', 'entity', 'run_cap'}))}",
        )
    types = field_types(config_cls) if config_cls else None
    cls_name = config_cls.__name__ if config_cls else ""  # named only where ``types`` is known

    if experiment and raw.get("experiment") not in (None, experiment):
        err("experiment", f"this file is for '{raw['experiment']}', not '{experiment}'")

    metric: Optional[str] = None
    mode: Optional[Literal["min", "max"]] = None
    if "metric" in raw:
        m = raw["metric"]
        if isinstance(m, str):
            metric = m
        elif isinstance(m, dict) and set(m) <= {"name", "goal", "target"} and isinstance(m.get("name"), str):
            metric = m["name"]
            goal = m.get("goal", "minimize")
            modes: dict[str, Literal["min", "max"]] = {"minimize": "min", "maximize": "max", "min": "min", "max": "max"}
            if goal not in modes:
                err("metric.goal", f"got {goal!r}; allowed: minimize, maximize")
            mode = modes[goal]
        else:
            err("metric", "expected {name: ..., goal: minimize|maximize}")

    exp = registry.EXPERIMENTS.get(str(raw.get("experiment", experiment)))
    if metric and exp and config_cls and metric not in exp.reports:  # a user trainable's metrics are its own
        err("metric", f"{exp.id} reports no '{metric}'; known: {', '.join(exp.reports)}")
    objectives = _objectives(raw, err, exp if config_cls else None)
    if objectives:
        if "metric" in raw:
            err("metrics", "give either metric (one) or metrics (two or three), not both")
        metric, mode = objectives[0]
    constraints = _constraints(raw, err)
    choose = raw.get("choose", CHOICE_RULES[0])
    if choose not in CHOICE_RULES:
        err("choose", f"got {choose!r}; allowed: {', '.join(CHOICE_RULES)}")

    method = raw.get("method", "random")
    if method not in METHODS:
        err("method", f"got {method!r}; allowed: {', '.join(METHODS)}")
    search = raw.get("search", METHODS[method])
    if search not in SEARCHERS:
        err("search", f"got {search!r}; allowed: {', '.join(SEARCHERS)}")

    parameters: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    params_raw = raw.get("parameters", {}) or {}
    if not isinstance(params_raw, dict):
        err("parameters", "expected a mapping of parameter name -> {values | value | distribution ...}")
    for name, body in params_raw.items():
        key = f"parameters.{name}"
        if types is not None and name not in types:
            err(key, f"not a field of {cls_name}; allowed: {', '.join(sorted(types))}")
        const, param = parse_param(name, body, err, key)
        tp = types[name] if types else None
        if param is None:
            check_value(const, tp, err, f"{key}.value")
            fixed[name] = const
        else:
            check_param(param, tp, err, key)
            parameters[name] = param

    fixed_raw = raw.get("fixed", {}) or {}
    if not isinstance(fixed_raw, dict):
        err("fixed", "expected a mapping of field -> value")
    for name, value in fixed_raw.items():
        if types is not None and name not in types:
            err(f"fixed.{name}", f"not a field of {cls_name}; allowed: {', '.join(sorted(types))}")
        if name in parameters:
            err(f"fixed.{name}", "also under parameters; a key is either searched or fixed")
        check_value(value, types[name] if types else None, err, f"fixed.{name}")
        fixed[name] = tuple(value) if isinstance(value, list) else value

    if search == "grid":
        for name, p in parameters.items():
            if p.values is None:
                err(f"parameters.{name}", f"grid search needs 'values'; got distribution {p.distribution}")

    presets = {}
    presets_raw = raw.get("presets", {}) or {}
    if not isinstance(presets_raw, dict):
        err("presets", "expected a mapping of preset name -> {parameter: value}")
    for pname, values in presets_raw.items():
        if not isinstance(values, dict):
            err(f"presets.{pname}", "expected a mapping of parameter -> value")
        for k, v in values.items():
            key = f"presets.{pname}.{k}"
            if k not in parameters:
                allowed = ", ".join(parameters) or "(no searched parameters)"
                why = "is fixed in this space" if k in fixed else "is not a searched parameter"
                err(key, f"'{k}' {why}; a preset sets searched parameters: {allowed}")
            check_value(v, types[k] if types else None, err, key)
            if not parameters[k].contains(v):
                err(key, f"{v!r} is outside the space; allowed: {parameters[k].describe()}")
        presets[str(pname)] = dict(values)

    scheduler = _scheduler(raw, err)
    num_samples = raw.get("num_samples")
    for key in ("num_samples", "run_cap"):
        v = raw.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            err(key, f"must be a positive integer, got {v!r}")
    if raw.get("run_cap") is not None:  # W&B's cap on runs: the most trials this sweep makes
        num_samples = min(num_samples or raw["run_cap"], raw["run_cap"])
    unused = [k for k in W_AND_B_UNUSED if k in raw]
    notes = (
        [f"{source}: {', '.join(unused)}: W&B keys sweeplab does not use (the trainable and the run are sweeplab's)"]
        if unused
        else []
    )
    time_budget = raw.get("time_budget")
    if time_budget is not None and (not _num(time_budget) or number_problem(time_budget) or time_budget <= 0):
        err("time_budget", f"must be a positive number of seconds, got {time_budget!r}")
    resources = raw.get("resources", {}) or {}
    if not isinstance(resources, dict) or set(resources) - RESOURCE_KEYS:
        err("resources", f"allowed keys: {', '.join(sorted(RESOURCE_KEYS))}")
    for k, v in resources.items():
        if not _num(v) or number_problem(v) or v < 0 or (k == "workers" and (not isinstance(v, int) or v < 1)):
            err(
                f"resources.{k}",
                f"must be a {'positive integer' if k == 'workers' else 'non-negative number'}, got {v!r}",
            )

    spec = Spec(
        source=source,
        text=text,
        experiment=raw.get("experiment", experiment),
        metric=metric,
        mode=mode,
        objectives=objectives,
        constraints=constraints,
        choose=choose,
        search=search,
        scheduler=scheduler,
        parameters=parameters,
        fixed=fixed,
        presets=presets,
        num_samples=num_samples,
        time_budget=time_budget,
        resources=dict(resources),
        config_cls=config_cls,
        notes=notes,
        defaults=dict(defaults or {}),
    )
    spec.absolute_paths()
    spec.preset_configs()  # every preset must complete over the searched parameters
    return spec


def _errors(source: str):
    def err(key: str, problem: str):
        raise UserError(f"{source}: {key}: {problem}")

    return err


GOALS: dict[str, Literal["min", "max"]] = {"minimize": "min", "maximize": "max"}
# how `best` chooses one config from a front: the first objective's best among the front
# points within one standard error of it, by the second (one_se); the point nearest the
# ideal once each objective is scaled to the front's range (knee); the first objective's best
CHOICE_RULES = ("one_se", "knee", "first")


def _objectives(raw: dict, err, exp: Optional["registry.Experiment"]) -> list[tuple[str, Literal["min", "max"]]]:
    """W&B's multi-objective ``metrics:``: two or three ``{name, goal}``, the first the one
    Tune and the single-metric tables rank by."""
    if "metrics" not in raw:
        return []
    items = raw["metrics"]
    if not isinstance(items, list) or not 2 <= len(items) <= 3:
        err("metrics", "expected a list of two or three {name: ..., goal: minimize|maximize}")
    out: list[tuple[str, Literal["min", "max"]]] = []
    for i, m in enumerate(items):
        if not isinstance(m, dict) or set(m) - {"name", "goal"} or not isinstance(m.get("name"), str):
            err(f"metrics[{i}]", "expected {name: ..., goal: minimize|maximize}")
        if m.get("goal") not in GOALS:
            err(f"metrics[{i}].goal", f"got {m.get('goal')!r}; allowed: minimize, maximize")
        name = m["name"]
        if is_test(name):
            err(f"metrics[{i}]", f"'{name}': the test split is held out and never chooses anything; name a val_ metric")
        if exp is not None and name not in exp.reports:
            err(f"metrics[{i}]", f"{exp.id} reports no '{name}'; known: {', '.join(exp.reports)}")
        if name in (n for n, _ in out):
            err(f"metrics[{i}]", f"'{name}' twice")
        out.append((name, GOALS[m["goal"]]))
    return out


def _constraints(raw: dict, err) -> list[Constraint]:
    items = raw.get("constraints", [])
    if not isinstance(items, list):
        err("constraints", "expected a list such as ['epoch_seconds <= 2.0']")
    out = []
    for i, text in enumerate(items):
        try:
            out.append(parse_constraint(text))
        except ValueError as e:
            err(f"constraints[{i}]", str(e))
        if is_test(out[-1].metric):
            err(f"constraints[{i}]", f"'{out[-1].metric}': the test split is held out and never chooses anything")
    return out


def _scheduler(raw: dict, err) -> dict[str, Any]:
    sched = raw.get("scheduler")
    names = {}  # option -> the key the file gave it under
    if sched is None and "early_terminate" in raw:
        et = raw["early_terminate"]
        if not isinstance(et, dict) or et.get("type") != "hyperband":
            err("early_terminate", "only {type: hyperband, min_iter, eta} is supported")
        sched = {"name": "promotion"}
        for theirs, ours in EARLY_TERMINATE.items():
            if theirs in et:
                sched[ours], names[ours] = et[theirs], f"early_terminate.{theirs}"
    if sched is None:
        return {"name": "promotion"}
    if isinstance(sched, str):
        sched = {"name": sched}
    if not isinstance(sched, dict) or sched.get("name") not in SCHEDULERS:
        got = sched.get("name") if isinstance(sched, dict) else sched
        err("scheduler", f"got {got!r}; allowed: {', '.join(SCHEDULERS)}")
    extra = sorted(set(sched) - {"name"} - SCHEDULER_KEYS[sched["name"]])
    if extra:
        allowed = ", ".join(sorted(SCHEDULER_KEYS[sched["name"]])) or "(none)"
        err(f"scheduler.{extra[0]}", f"not an option of {sched['name']}; allowed: {allowed}")
    for key, value in sched.items():
        if key == "name" or value is None:  # None: the scheduler's default
            continue
        integer, ok, need = SCHEDULER_OPTIONS[key]
        if not (_ints(value) if integer else _num(value)) or number_problem(value) or not ok(value):
            err(names.get(key, f"scheduler.{key}"), f"must be {need}, got {value!r}")
    return copy.deepcopy(sched)


def resolve_target(target: Optional[str], space: Optional[str]) -> tuple[Optional["registry.Experiment"], Path]:
    """``tune freq`` (an experiment's default space) or ``tune seqclf_lstm`` (a shipped space)."""
    if target in registry.EXPERIMENTS:
        exp = registry.EXPERIMENTS[target]
        return exp, find(space) if space else find(exp.space)
    if target is None:
        if space is None:
            raise UserError("name an experiment or a space (sweeplab list), or give --space FILE")
        path = find(space)
        _, raw = read(path)
        exp_id = raw.get("experiment")
        return (registry.get(exp_id) if exp_id else None), path
    files = shipped()
    if target in files:
        if space:
            raise UserError(f"'{target}' is already a space file; drop --space or name an experiment")
        _, raw = read(files[target])
        return registry.get(raw["experiment"]), files[target]
    known = sorted(set(registry.EXPERIMENTS) | set(files))
    raise UserError(f"unknown experiment or space '{target}'; known: {', '.join(known)}")
