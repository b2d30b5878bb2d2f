"""One case per registry entry (timm's way: register an experiment and these test it, with
no test edited). Its default space, with the registry's smoke overrides pinned as `tune
--smoke` pins them, builds a config; every key the registry names is a field of that
config; one engine epoch (a fake session, no Ray) reports every metric the registry says
a trial reports."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import pytest
import torch

from sweeplab import engine, registry, spaces
from sweeplab.domains import Param

IDS = sorted(registry.EXPERIMENTS)


class FakeSession(engine.Session):
    """Keeps each reported row; checkpoints are written by the engine and dropped here."""

    def __init__(self, out):
        self.out, self.rows = out, []
        torch.set_num_threads(1)  # a trial's default share; small models run fastest on one

    def artifact_dir(self) -> Optional[str]:
        return str(self.out)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Optional[str]) -> None:
        self.rows.append(dict(metrics))


def space_value(param: Param, default: Any) -> Any:
    """A value the space can give: the config's default where the space holds it (as a
    preset gets it), else the first listed, else the range's low end."""
    if default is not dataclasses.MISSING and param.contains(default):
        return default
    if param.values is not None:
        return param.values[0]
    if param.distribution in ("normal", "q_normal"):
        return param.mu
    low = param.bounds()[0]
    return int(low) if param.distribution == "int_uniform" else low


def smoke_config(exp: registry.Experiment):
    trainable = exp.load()
    _, path = spaces.resolve_target(exp.id, None)
    spec = spaces.load(path, trainable.config, exp.id)
    for key, value in exp.smoke.items():
        spec.pin(key, value, origin="smoke")
    spec.check_configs()
    defaults = {f.name: f.default for f in dataclasses.fields(trainable.config)}
    values = {**spec.fixed, **{k: space_value(p, defaults[k]) for k, p in spec.parameters.items()}}
    return trainable, trainable.config.from_dict(values)


@pytest.mark.parametrize("exp_id", IDS)
def test_every_key_the_registry_names_is_a_config_field(exp_id):
    exp = registry.EXPERIMENTS[exp_id]
    config = exp.load().config
    fields = {f.name for f in dataclasses.fields(config)}
    named = {
        "smoke": tuple(exp.smoke),
        "table": exp.table,
        "capacity": exp.capacity,
        f"{config.__name__}.HOT_FIELDS": config.HOT_FIELDS,
    }
    stray = [f"{where}: '{key}'" for where, keys in named.items() for key in keys if key not in fields]
    assert not stray, f"registry '{exp_id}' names keys that are not fields of {config.__name__}: {', '.join(stray)}"


@pytest.mark.parametrize("exp_id", IDS)
def test_one_smoke_epoch_reports_the_registry_metrics(exp_id, tmp_path):
    exp = registry.EXPERIMENTS[exp_id]
    trainable, cfg = smoke_config(exp)
    session = FakeSession(tmp_path)
    engine.fit(trainable.task, cfg, trainable.load_data(cfg), session, engine.Monitor(exp.metric, exp.mode), until=1)
    assert len(session.rows) == 1
    row = session.rows[0]
    missing = [m for m in exp.reports if m not in row]
    assert not missing, f"registry '{exp_id}' expects {missing} every epoch; the epoch reported {sorted(row)}"
    assert math.isfinite(float(row[exp.metric]))
    assert isinstance(exp.label(cfg.to_dict()), str)
