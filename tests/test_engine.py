"""The one training loop, called in-process (no Ray): restore, divergence, early stop,
LR schedules. Tiny freq configs keep each test to a second or two."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pytest
import torch

from sweeplab import engine
from sweeplab.errors import TrialDiverged
from sweeplab.local_training import LocalSession
from sweeplab.trainables import freq

TINY = freq.FreqConfig(hidden_size=8, seq_length=50, duration=0.5, epochs=4, lr=1e-2, lr_schedule="none")
MONITOR = engine.Monitor("val_mse", "min")


def run(cfg, out, resume=False):
    session = LocalSession(out, cpus=1, resume=resume, echo=lambda _: None)
    last = engine.fit(freq.FreqTask, cfg, freq.load_data(cfg), session, MONITOR)
    return last, session.history


def test_restored_run_continues_at_the_right_epoch_and_matches_an_unbroken_run(tmp_path):
    full, full_hist = run(TINY, tmp_path / "full")
    run(dataclasses.replace(TINY, epochs=2), tmp_path / "broken")  # "killed" after epoch 2
    resumed, resumed_hist = run(TINY, tmp_path / "broken", resume=True)
    assert [r["epoch"] for r in resumed_hist] == [3, 4]
    assert resumed["val_mse"] == pytest.approx(full["val_mse"], rel=1e-6)
    assert resumed_hist[0]["train_loss"] == pytest.approx(full_hist[2]["train_loss"], rel=1e-6)


def test_nan_loss_stops_the_trial_with_its_reason(tmp_path):
    cfg = dataclasses.replace(TINY, lr=1e30, clip_grad_norm=0.0, epochs=3)
    with pytest.raises(TrialDiverged, match=r"loss became (nan|inf) at epoch \d+, step \d+ \(lr=1e\+30\)"):
        run(cfg, tmp_path)


def test_early_stopping_stops_after_patience_and_returns_the_best_epoch(tmp_path):
    cfg = dataclasses.replace(TINY, lr=0.0, epochs=10, early_stop_patience=2)  # lr 0: never improves
    best, hist = run(cfg, tmp_path)
    assert len(hist) == 3 and hist[-1]["early_stopped"] is True
    assert [r["is_best"] for r in hist] == [True, False, False]
    assert best["epoch"] == 1 and "test_mse" in best and all("test_mse" not in r for r in hist[1:])


def test_test_split_is_scored_only_on_each_new_best_epochs_weights(tmp_path):
    best, hist = run(dataclasses.replace(TINY, epochs=6), tmp_path / "full")
    values = [r["val_mse"] for r in hist]
    running = [min(values[: i + 1]) for i in range(len(values))]
    assert [r["is_best"] for r in hist] == [i == 0 or values[i] < running[i - 1] for i in range(len(values))]
    assert [("test_mse" in r) for r in hist] == [r["is_best"] for r in hist]
    assert best["val_mse"] == min(values) and best["epoch"] == 1 + values.index(min(values))
    # the best epoch's validation predictions: the metric is their mean, the trivial one is predicting 0
    predictions = json.loads(hist[best["epoch"] - 1][engine.PREDICTIONS])
    assert predictions["kind"] == "mean"
    assert sum(predictions["values"]) / len(predictions["values"]) == pytest.approx(best["val_mse"], rel=1e-6)
    assert sum(predictions["trivial"]) / len(predictions["trivial"]) == pytest.approx(best["val_zero_mse"], rel=1e-4)
    assert (tmp_path / "full" / "best" / engine.STATE_FILE).exists()


def test_training_until_a_chosen_epoch_reproduces_that_epochs_figure(tmp_path):
    """`train --config best.yaml` stops at the epoch a sweep chose, with the full budget's
    schedules (the cosine here spans all 6 epochs), and gets that epoch's figure exactly."""
    cfg = dataclasses.replace(TINY, epochs=6, lr_schedule="cosine")
    _, hist = run(cfg, tmp_path / "full")
    session = LocalSession(tmp_path / "until", cpus=1, echo=lambda _: None)
    row = engine.fit(freq.FreqTask, cfg, freq.load_data(cfg), session, MONITOR, until=3)
    assert [r["epoch"] for r in session.history] == [1, 2, 3]
    assert [r["val_mse"] for r in session.history] == [r["val_mse"] for r in hist[:3]]
    assert row["val_mse"] == min(r["val_mse"] for r in hist[:3])


def test_cosine_with_warmup_and_plateau_schedules():
    model = torch.nn.Linear(2, 1)
    cfg = dataclasses.replace(TINY, lr=1.0, lr_schedule="cosine", warmup_epochs=1, epochs=3)
    opt = engine.make_optimizer(cfg, model.parameters())
    sched = engine.make_lr_schedule(cfg, opt, "min")
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(3):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.5, 1.0, 0.5, 0.0])  # warmup, then half a cosine over 2 epochs

    cfg = dataclasses.replace(TINY, lr=1.0, lr_schedule="plateau", plateau_patience=0, plateau_factor=0.1)
    opt = engine.make_optimizer(cfg, model.parameters())
    sched = engine.make_lr_schedule(cfg, opt, "min")
    for value in (1.0, 1.0):
        sched.step(value)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_local_run_writes_history_and_checkpoint(tmp_path):
    best, hist = run(dataclasses.replace(TINY, epochs=2), tmp_path)
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert (tmp_path / "checkpoint" / engine.STATE_FILE).exists()
    assert best["val_zero_mse"] == pytest.approx(0.5, abs=0.01)  # a unit sine's power


def test_unknown_config_key_fails_loudly():
    from sweeplab.errors import UserError

    with pytest.raises(UserError, match=r"FreqConfig: unknown key\(s\) 'hiden_size'; allowed: .*hidden_size"):
        freq.FreqConfig.from_dict({"hiden_size": 3})
    with pytest.raises(UserError, match="FreqConfig: key 'amp' must be bool, got 'False'"):
        freq.FreqConfig.from_dict({"amp": "False"})


class TwoOptimizerTask:
    """A task that owns its optimizers, as a GAN does: two regressors, two Adams."""

    def __init__(self, cfg, data, session):
        self.cfg, self.blow_up = cfg, data

    def build_model(self):
        torch.manual_seed(0)
        return torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)})

    def configure_optimizers(self, model):
        return {
            "a": torch.optim.Adam(model["a"].parameters(), lr=self.cfg.lr),
            "b": torch.optim.Adam(model["b"].parameters(), lr=self.cfg.lr / 10),
        }

    def train_batches(self, epoch):
        g = torch.Generator().manual_seed(epoch)
        for _ in range(4):
            x = torch.randn(8, 2, generator=g)
            yield x, x.sum(1, keepdim=True)

    def manual_step(self, model, batch, optimizers):
        x, y = batch
        loss_a = torch.nn.functional.mse_loss(model["a"](x), y) * (float("inf") if self.blow_up else 1.0)
        a = engine.backward_step(optimizers["a"], loss_a, model["a"].parameters(), self.cfg.clip_grad_norm)
        b = engine.backward_step(
            optimizers["b"], torch.nn.functional.mse_loss(model["b"](x), y), model["b"].parameters(), 0.0
        )
        return {"a_loss": a, "b_loss": b}

    def evaluate(self, model, split):
        x = torch.ones(4, 2)
        return {"val_mse": float(((model["a"](x) - 2) ** 2).mean())}


def test_a_task_with_its_own_optimizers_is_scheduled_checkpointed_and_restored(tmp_path):
    cfg = dataclasses.replace(TINY, epochs=3, lr=0.1, lr_schedule="cosine")
    session = LocalSession(tmp_path / "a", echo=lambda _: None)
    last = engine.fit(TwoOptimizerTask, cfg, False, session, MONITOR)
    assert set(last) >= {"train_a_loss", "train_b_loss", "lr_a", "lr_b", "val_mse"}
    assert session.history[0]["lr_a"] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi / 3)))

    engine.fit(
        TwoOptimizerTask,
        dataclasses.replace(cfg, epochs=1),
        False,
        LocalSession(tmp_path / "b", echo=lambda _: None),
        MONITOR,
    )
    resumed = LocalSession(tmp_path / "b", resume=True, echo=lambda _: None)
    again = engine.fit(TwoOptimizerTask, cfg, False, resumed, MONITOR)
    assert [r["epoch"] for r in resumed.history] == [2, 3]
    assert again["val_mse"] == pytest.approx(last["val_mse"], rel=1e-6)


def test_a_restored_run_under_a_new_lr_moves_the_schedule(tmp_path):
    """PBT: the donor's checkpoint, the receiver's lr."""
    cfg = dataclasses.replace(TINY, epochs=2, lr=1e-2)
    run(cfg, tmp_path)
    _, hist = run(dataclasses.replace(cfg, epochs=3, lr=4e-2), tmp_path, resume=True)
    assert hist[-1]["lr"] == pytest.approx(4e-2)


def test_a_non_finite_loss_in_a_task_with_its_own_optimizers_stops_the_trial(tmp_path):
    with pytest.raises(TrialDiverged, match=r"loss became inf at epoch 1, step 1 \(lr_a=0.01, lr_b=0.001\)") as info:
        engine.fit(
            TwoOptimizerTask,
            dataclasses.replace(TINY, lr=1e-2),
            True,
            LocalSession(tmp_path, echo=lambda _: None),
            MONITOR,
        )
    # the same as fields, which the store keeps as columns (schema.FAILURE_COLUMNS)
    assert info.value.failure == {
        "failure_kind": "diverged",
        "failure_epoch": 1,
        "failure_step": 1,
        "failure_value": float("inf"),
        "failure_lrs": '{"lr_a": 0.01, "lr_b": 0.001}',
    }


def test_a_restored_run_keeps_this_configs_weight_decay(tmp_path, monkeypatch):
    """PBT may change weight decay: the checkpoint's optimizer state must not undo it."""
    cfg = dataclasses.replace(TINY, epochs=1, weight_decay=0.0)
    run(cfg, tmp_path)
    built = []
    original = engine.make_optimizer
    monkeypatch.setattr(engine, "make_optimizer", lambda c, params: built.append(original(c, params)) or built[-1])
    run(dataclasses.replace(cfg, epochs=2, weight_decay=0.1), tmp_path, resume=True)
    assert built[0].param_groups[0]["weight_decay"] == 0.1


def test_shared_read_only_data_becomes_tensors_without_torchs_non_writable_warning():
    """Ray's object store hands trials read-only arrays; torch warns about each (once a
    process: hence a fresh one)."""
    code = (
        "import warnings, numpy as np\n"
        "warnings.simplefilter('error')\n"
        "from sweeplab.data.splits import tensor, to_device\n"
        "import torch\n"
        "x = np.arange(6.0).reshape(3, 2); y = np.arange(3); x.setflags(write=False); y.setflags(write=False)\n"
        "out = to_device({'train': (x, y)}, torch.device('cpu'))\n"
        "assert out['train'][0].tolist() == x.tolist() and tensor(y).tolist() == [0, 1, 2]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
