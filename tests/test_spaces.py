"""Space files: every shipped one validates; each kind of mistake gets its own error."""

from __future__ import annotations

import math
import textwrap

import pytest

from sweeplab import registry, spaces
from sweeplab.cli import main
from sweeplab.errors import UserError
from sweeplab.trainables.freq import FreqConfig


@pytest.mark.parametrize("name", sorted(spaces.shipped()))
def test_shipped_space_validates(name):
    path = spaces.shipped()[name]
    _, raw = spaces.read(path)
    exp = registry.get(raw["experiment"])
    spec = spaces.load(path, exp.load().config, exp.id)
    space = spec.param_space()
    assert set(spec.parameters) <= set(space)
    for preset, values in spec.preset_configs().items():  # presets complete and inside the space
        exp.load().config.from_dict(values)
        assert set(spec.parameters) <= set(values), preset


def write(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    method: bayes
    metric: {name: val_mse, goal: minimize}
    parameters:
      hidden_size: {values: [32, 64]}
      lr: {distribution: log_uniform_values, min: 1e-4, max: 1e-3}
    presets:
      a: {hidden_size: 32, lr: 1e-3}
"""


def test_wandb_numbers_without_a_dot_are_floats(tmp_path):
    spec = spaces.load(write(tmp_path, GOOD), FreqConfig)
    assert spec.parameters["lr"].min == pytest.approx(1e-4)
    assert spec.points_to_evaluate() == [{"hidden_size": 32, "lr": 1e-3}]
    assert spec.search == "rung_tpe" and spec.mode == "min"  # W&B bayes: TPE per rung


BAD = {
    "unknown parameter": (
        "parameters:\n  hiden_size: {values: [1]}\n",
        "parameters.hiden_size: not a field of FreqConfig",
    ),
    "unknown distribution": (
        "parameters:\n  lr: {distribution: gaussian, min: 0, max: 1}\n",
        "parameters.lr.distribution: unknown distribution 'gaussian'",
    ),
    "min > max": (
        "parameters:\n  lr: {distribution: uniform, min: 0.1, max: 0.01}\n",
        "parameters.lr.min: min 0.1 > max 0.01",
    ),
    "preset unknown key": (
        "parameters:\n  lr: {values: [0.1]}\npresets:\n  p: {hidden: 3}\n",
        "presets.p.hidden: 'hidden' is not a searched parameter",
    ),
    "preset outside space": (
        "parameters:\n  lr: {values: [0.1, 0.2]}\npresets:\n  p: {lr: 0.3}\n",
        "presets.p.lr: 0.3 is outside the space; allowed: one of 0.1, 0.2",
    ),
    "preset outside range": (
        "parameters:\n  lr: {min: 0.1, max: 0.2}\npresets:\n  p: {lr: 0.3}\n",
        "presets.p.lr: 0.3 is outside the space; allowed: uniform in [0.1, 0.2]",
    ),
    "preset on a fixed key": (
        "fixed: {lr: 0.1}\nparameters:\n  hidden_size: {values: [8]}\npresets:\n  p: {lr: 0.3}\n",
        "presets.p.lr: 'lr' is fixed in this space",
    ),
    "wrong type in values": (
        "parameters:\n  hidden_size: {values: [32, 'big']}\n",
        "parameters.hidden_size.values[1]: must be int, got 'big'",
    ),
    "string boolean": ("fixed: {amp: 'False'}\n", "fixed.amp: must be bool, got 'False'"),
    "float range on int field": (
        "parameters:\n  hidden_size: {distribution: uniform, min: 8, max: 64}\n",
        "parameters.hidden_size: is an integer field",
    ),
    "literal outside choices": (
        "fixed: {optimizer: rmsprop}\n",
        "fixed.optimizer: must be one of 'adam', 'adamw', 'sgd'",
    ),
    "unknown top key": ("paramaters: {}\n", "paramaters: unknown key"),
    "bad method": ("method: bayesian\n", "method: got 'bayesian'; allowed: grid, random, bayes"),
    "bad scheduler": ("scheduler: {name: asha, patience: 3}\n", "scheduler.patience: not an option of asha"),
    "grid over a range": (
        "method: grid\nparameters:\n  lr: {min: 0.1, max: 0.2}\n",
        "parameters.lr: grid search needs 'values'",
    ),
    "bad goal": ("metric: {name: val_mse, goal: lowest}\n", "metric.goal: got 'lowest'"),
    "not yaml": ("parameters: [unclosed\n", "not valid YAML"),
    "resources": ("resources: {cpu: -1}\n", "resources.cpu: must be a non-negative number"),
    "alias bomb": (
        "description:\n  - &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(f"  - &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
        + "fixed: {frequencies: *i}\n",
        "line 6: refused: its aliases expand to more than 100,000 nodes",
    ),
    "alias inside its anchor": ("fixed: &x {frequencies: [1, *x]}\n", "line 1: refused: alias *x refers to itself"),
    "nan bound": (
        "parameters:\n  lr: {distribution: uniform, min: .nan, max: 0.1}\n",
        "parameters.lr.min: must be a finite number, got nan",
    ),
    "inf bound": ("parameters:\n  lr: {min: 0.1, max: .inf}\n", "parameters.lr.max: must be a finite number, got inf"),
    "-inf bound": (
        "parameters:\n  lr: {min: -.inf, max: 0.1}\n",
        "parameters.lr.min: must be a finite number, got -inf",
    ),
    "nan in values": (
        "parameters:\n  lr: {values: [0.1, .nan]}\n",
        "parameters.lr.values[1]: must be a finite number, got nan",
    ),
    "nan fixed": ("fixed: {lr: .nan}\n", "fixed.lr: must be a finite number, got nan"),
    "inf in a fixed list": (
        "fixed: {frequencies: [1.0, .inf]}\n",
        "fixed.frequencies: must be a finite number, got inf",
    ),
    "beyond float32": ("fixed: {lr: 1e39}\n", "fixed.lr: must be within float32's range (+-3.4e38), got 1e+39"),
    "beyond int64": (
        "parameters:\n  hidden_size: {min: 8, max: 100000000000000000000000}\n",
        "parameters.hidden_size.max: must fit a 64-bit integer, got 100000000000000000000000",
    ),
    "1e23 for an int": ("fixed: {hidden_size: 1e23}\n", "fixed.hidden_size: must be int, got 1e+23"),
    "log_uniform exponent": (
        "parameters:\n  lr: {distribution: log_uniform, min: 1, max: 100}\n",
        "parameters.lr.max: log_uniform's min and max are natural-log exponents",
    ),
    "q off the grid": (
        "parameters:\n  lr: {distribution: q_uniform, min: 0.5, max: 8.5}\n",
        "parameters.lr.min: q_uniform needs min and max that are multiples of q (1), got 0.5",
    ),
    "grace_period a word": (
        "scheduler: {name: asha, grace_period: five}\n",
        "scheduler.grace_period: must be an integer >= 1, got 'five'",
    ),
    "reduction_factor 1": (
        "scheduler: {name: asha, reduction_factor: 1}\n",
        "scheduler.reduction_factor: must be a number > 1, got 1",
    ),
    "max_t 0": ("scheduler: {name: hyperband, max_t: 0}\n", "scheduler.max_t: must be an integer >= 1, got 0"),
    "quantile_fraction": (
        "scheduler: {name: pbt, quantile_fraction: 0.9}\n",
        "scheduler.quantile_fraction: must be a number in [0, 0.5], got 0.9",
    ),
    "min_iter -3": (
        "early_terminate: {type: hyperband, min_iter: -3}\n",
        "early_terminate.min_iter: must be an integer >= 1, got -3",
    ),
    "eta nan": (
        "early_terminate: {type: hyperband, eta: .nan}\n",
        "early_terminate.eta: must be a number > 1, got nan",
    ),
    "max_iter -1": (
        "early_terminate: {type: hyperband, max_iter: -1}\n",
        "early_terminate.max_iter: must be an integer >= 1, got -1",
    ),
    "time_budget nan": ("time_budget: .nan\n", "time_budget: must be a positive number of seconds, got nan"),
    "resources nan": ("resources: {gpu: .nan}\n", "resources.gpu: must be a non-negative number, got nan"),
    "metric never reported": (
        "experiment: freq\nmetric: {name: val_accuracy, goal: maximize}\n",
        "metric: freq reports no 'val_accuracy'; known: val_mse, train_loss, epoch_seconds, train_seconds",
    ),
    "test metric": ("experiment: freq\nmetric: test_mse\n", "metric: freq reports no 'test_mse'"),
    "seed out of range": ("fixed: {seed: -1}\n", "fixed.seed: FreqConfig: key 'seed' must be in [0, 2**32), got -1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_space_names_file_and_key(tmp_path, case):
    text, expected = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        spaces.load(path, FreqConfig).check_configs()
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_bad_space_through_cli_exits_2_before_ray(tmp_path, capsys):
    path = write(tmp_path, BAD["min > max"][0])
    assert main(["tune", "freq", "--space", str(path), "--storage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"sweeplab: error: {path}: parameters.lr.min: min 0.1 > max 0.01"
    assert not (tmp_path / "s").exists()  # nothing started, nothing written


def test_plain_wandb_sweep_file_loads(tmp_path):
    path = write(
        tmp_path,
        """
        program: train.py
        method: random
        metric: {name: val_mse, goal: minimize}
        parameters:
          hidden_size: {values: [32, 64, 128]}
          lr: {distribution: log_uniform, min: -9.21, max: -6.91}
          num_layers: {min: 1, max: 2}
          dropout: {value: 0.1}
        early_terminate: {type: hyperband, min_iter: 3, eta: 2}
    """,
    )
    spec = spaces.load(path, FreqConfig)
    assert spec.scheduler == {"name": "promotion", "grace_period": 3, "reduction_factor": 2}
    assert spec.parameters["num_layers"].distribution == "int_uniform"
    lo, hi = spec.parameters["lr"].bounds()
    assert lo == pytest.approx(math.exp(-9.21)) and hi == pytest.approx(math.exp(-6.91))
    assert spec.fixed["dropout"] == 0.1


def test_pin_takes_a_parameter_out_and_types_it(tmp_path):
    spec = spaces.load(write(tmp_path, GOOD), FreqConfig)
    spec.pin("hidden_size", "128")
    assert "hidden_size" not in spec.parameters and spec.fixed["hidden_size"] == 128
    assert spec.points_to_evaluate() == [{"lr": 1e-3}]
    with pytest.raises(UserError, match="--set hidden: not a field of FreqConfig"):
        spec.pin("hidden", "3")
    with pytest.raises(UserError, match="--set amp: must be bool, got 'maybe'"):
        spec.pin("amp", "maybe")


def test_max_epochs_clips_searched_values_and_presets():
    exp = registry.get("freq")
    spec = spaces.load(spaces.find("freq"), FreqConfig, "freq")
    spec.set_epochs(20)
    assert spec.parameters["epochs"].values == [10, 20]
    assert spec.presets["tuned"]["epochs"] == 20 and spec.presets["initial"]["epochs"] == 10
    assert spec.max_epochs() == 20 and exp.metric == "val_mse"


def test_max_epochs_raises_a_fixed_budget_as_well_as_lowering_it():
    """--max-epochs 60 on a space of 10-epoch trials gives 60-epoch trials (it used to only cap)."""
    from sweeplab.trainables.seqclf import SeqclfConfig

    for budget in (60, 3):
        spec = spaces.load(spaces.find("seqclf_gru"), SeqclfConfig, "seqclf")
        spec.set_epochs(budget)
        assert spec.fixed["epochs"] == budget and spec.max_epochs() == budget
        assert all(SeqclfConfig.from_dict(c).epochs == budget for c in spec.preset_configs().values())


def test_preset_default_outside_space_is_an_error(tmp_path):
    path = write(
        tmp_path, "parameters:\n  hidden_size: {values: [8, 16]}\n  lr: {values: [0.1]}\npresets:\n  p: {lr: 0.1}\n"
    )
    with pytest.raises(UserError, match=r"presets.p: gives no 'hidden_size' and the default 64 is outside the space"):
        spaces.load(path, FreqConfig)


WANDB_DISTRIBUTIONS = {  # every distribution the README lists, on a FreqConfig float field (lr) or int (hidden_size)
    "int_uniform": ("hidden_size", "min: 8, max: 64"),
    "uniform": ("lr", "min: 0.001, max: 0.01"),
    "q_uniform": ("hidden_size", "min: 8, max: 64"),  # int bounds and no q: steps of 1
    "log_uniform": ("lr", "min: -9.2, max: -4.6"),
    "log_uniform_values": ("lr", "min: 0.0001, max: 0.1"),
    "q_log_uniform_values": ("hidden_size", "min: 8, max: 512"),  # W&B's default q of 1
    "normal": ("lr", "mu: 0.005, sigma: 0.0001"),
    "q_normal": ("lr", "mu: 0.005, sigma: 0.0001, q: 0.0001"),
}


@pytest.mark.parametrize("dist", sorted(WANDB_DISTRIBUTIONS))
def test_every_listed_distribution_reaches_every_searcher(tmp_path, dist):
    """What Ray's and Optuna's converters take, checked without Ray running: a space that
    passes validation must not fail once Ray has started (q_log_uniform_values did)."""
    from ray.tune.search.optuna import OptunaSearch
    from ray.tune.search.variant_generator import generate_variants

    key, body = WANDB_DISTRIBUTIONS[dist]
    spec = spaces.load(
        write(tmp_path, f"experiment: freq\nparameters:\n  {key}: {{distribution: {dist}, {body}}}\n"), FreqConfig
    )
    space = spec.param_space()
    from sweeplab.domains import optuna_problem

    if optuna_problem(spec.parameters[key]) is None:  # else refused before Ray for rung_tpe / optuna
        OptunaSearch.convert_search_space(space)
    else:
        assert dist in ("normal", "q_normal")
    for _, variant in generate_variants(space):  # random and grid
        assert isinstance(variant[key], (int, float))


def test_a_log_scale_optuna_cannot_quantise_is_refused_before_ray_and_run_cap_caps_the_trials(tmp_path, capsys):
    from sweeplab import plan

    path = write(
        tmp_path,
        """
        experiment: freq
        method: bayes
        program: train.py
        entity: me
        run_cap: 3
        num_samples: 10
        parameters:
          lr: {distribution: q_log_uniform_values, min: 0.0001, max: 0.1, q: 0.0001}
    """,
    )
    with pytest.raises(UserError, match=r"parameters.lr: q_log_uniform_values with q=0.0001 .*--search random"):
        plan.prepare(plan.SweepOptions(target="freq", space=str(path), storage=str(tmp_path / "s")))
    assert not (tmp_path / "s").exists()
    capsys.readouterr()
    prep = plan.prepare(plan.SweepOptions(target="freq", space=str(path), storage=str(tmp_path / "s"), search="random"))
    assert prep.num_samples == 3  # run_cap
    assert "program, entity: W&B keys sweeplab does not use" in capsys.readouterr().out


@pytest.mark.parametrize("dist", ["q_uniform", "q_log_uniform_values"])
def test_wandb_quantised_integer_ranges_need_no_q(tmp_path, dist):
    """W&B's q defaults to 1: integer min and max give integers, on every searcher's domain."""
    spec = spaces.load(
        write(tmp_path, f"parameters:\n  hidden_size: {{distribution: {dist}, min: 8, max: 64}}\n"), FreqConfig
    )
    spec.check_configs()
    domain = spec.param_space()["hidden_size"]
    drawn = [domain.sample() for _ in range(50)]
    assert all(isinstance(v, int) and 8 <= v <= 64 for v in drawn), drawn
    from sweeplab.domains import optuna_problem

    assert optuna_problem(spec.parameters["hidden_size"]) is None


def test_relative_paths_are_made_absolute_once_and_must_exist(tmp_path, monkeypatch):
    """Trials run in folders of their own: the driver resolves data paths against its own
    working directory, and refuses a missing one before Ray starts."""
    from sweeplab.trainables.seqclf import SeqclfConfig

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ecg.csv").write_text("")
    spec = spaces.load(write(tmp_path, "fixed: {data: ecg.csv}\n"), SeqclfConfig)
    assert spec.fixed["data"] == str(tmp_path / "ecg.csv")
    spec.check_paths()
    spec.pin("data", "sub/../ecg.csv")
    assert spec.fixed["data"] == spec.pins["data"] == str(tmp_path / "ecg.csv")
    spec.pin("data", "missing.csv")
    with pytest.raises(UserError, match=f"^--set data: {tmp_path}/missing.csv: no such file or folder$"):
        spec.check_paths()
    spec = spaces.load(write(tmp_path, "parameters:\n  data: {values: [ecg.csv, gone.csv]}\n"), SeqclfConfig)
    assert spec.parameters["data"].values == [str(tmp_path / "ecg.csv"), str(tmp_path / "gone.csv")]
    with pytest.raises(UserError, match=f"space.yaml: parameters.data: {tmp_path}/gone.csv: no such file or folder$"):
        spec.check_paths()


def test_set_refuses_non_finite_numbers(tmp_path):
    spec = spaces.load(write(tmp_path, GOOD), FreqConfig)
    for value in ("nan", ".inf", "-inf"):
        with pytest.raises(UserError, match="^--set lr: must be a finite number"):
            spec.pin("lr", value)


def test_what_sweeplab_writes_as_yaml_reads_back_the_same():
    """A trial id such as 01e40764 is a number (1e40764, inf) to the space loader unless
    quoted: `best` wrote it bare and `train --config` could not find the chosen trial."""
    from sweeplab.spaces import dumps, loads

    data = {"chosen": {"trial": "01e40764", "value": 0.5}, "lr": 1e-4, "name": "1e5", "n": 3}
    assert "'01e40764'" in dumps(data) and loads(dumps(data)) == data


def test_the_scheduler_names_are_one_list_and_each_has_its_options():
    from sweeplab.options import SCHEDULERS

    assert tuple(spaces.SCHEDULER_KEYS) == SCHEDULERS  # the CLI's --scheduler choices are SCHEDULERS too
