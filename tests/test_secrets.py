"""Secrets never reach Ray or the sweep folder: environment secrets stay in the process
environment (not Ray's runtime environment, whose agent logs it), secret-named --set values
reach trials through SWEEPLAB_SECRET_<key>, and every stored text and trial error is masked."""

from __future__ import annotations

import json
import sys
import os
import subprocess
from pathlib import Path

import pytest

from sweeplab import secrets
from sweeplab.errors import UserError

from conftest import sweeplab_process

ENV_KEY, AWS_KEY, SET_TOKEN = "plantedwandbkey123456", "plantedawssecret987", "plantedsettoken42"


def test_redact_masks_secret_environment_values_and_secret_named_config_keys(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", ENV_KEY)
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to mask without masking ordinary words
    text = f"key {ENV_KEY}, token {SET_TOKEN}, abc"
    assert secrets.redact(text, {"api_token": SET_TOKEN}) == "key ***, token ***, abc"
    assert secrets.redact({"api_token": SET_TOKEN, "lr": 0.1, "note": [text]}) == {
        "api_token": "***",
        "lr": 0.1,
        "note": [f"key ***, token {SET_TOKEN}, abc"],
    }
    assert secrets.split_secrets({"api_token": "x", "lr": 1, "tokenizer": "bpe"}) == (
        {"lr": 1, "tokenizer": "bpe"},
        {"api_token": "x"},
    )


def test_a_guarded_trainable_gets_its_secrets_from_the_environment_and_raises_masked_errors(monkeypatch):
    seen = {}

    def objective(config):
        seen.update(config)
        raise RuntimeError(f"auth failed with {config['api_token']}")

    with pytest.raises(secrets.TrialError, match="did not reach this worker: .*SWEEPLAB_SECRET_api_token"):
        secrets.guarded(objective, ["api_token"])({"lr": 1})
    secrets.export({"api_token": SET_TOKEN})
    try:
        with pytest.raises(secrets.TrialError) as err:
            secrets.guarded(objective, ["api_token"])({"lr": 1})
    finally:
        os.environ.pop("SWEEPLAB_SECRET_api_token")
    assert seen == {"lr": 1, "api_token": SET_TOKEN}
    assert "RuntimeError: auth failed with ***" in str(err.value) and SET_TOKEN not in str(err.value)

    def clean(config):
        raise ValueError("nothing secret")

    with pytest.raises(ValueError):  # an error with nothing to mask keeps its type
        secrets.guarded(clean)({"lr": 1})


def test_a_resumed_sweep_takes_its_secrets_from_the_environment_or_refuses(monkeypatch):
    with pytest.raises(
        UserError, match="api_token: a secret, which the sweep did not store; set SWEEPLAB_SECRET_api_token"
    ):
        secrets.restored({"api_token": "***"})
    monkeypatch.setenv("SWEEPLAB_SECRET_api_token", json.dumps(SET_TOKEN))
    assert secrets.restored({"api_token": "***"}) == {"api_token": SET_TOKEN}
    # what the hint asks a user to set: the plain token, as typed (issue 34.9)
    monkeypatch.setenv("SWEEPLAB_SECRET_api_token", "tok-plain-12345")
    assert secrets.restored({"api_token": "***"}) == {"api_token": "tok-plain-12345"}
    assert secrets.guarded(lambda config: config["api_token"], ["api_token"])({}) == "tok-plain-12345"


def test_tune_no_longer_copies_credentials_into_the_runtime_environment():
    from ray.tune.execution import class_cache

    secrets.keep_out_of_ray()
    assert not {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"} & set(
        class_cache.ENV_VARS_TO_PROPAGATE
    )
    assert "PL_DISABLE_FORK" in class_cache.DEFAULT_ENV_VARS


TRAINABLE = """import os
from ray import tune


def objective(config):
    tune.report({"val_loss": config["lr"], "token_length": len(config["api_token"])})
    raise RuntimeError("auth failed: " + os.environ["WANDB_API_KEY"] + " / " + config["api_token"])
"""


@pytest.mark.slow
def test_planted_secrets_appear_nowhere_in_the_sweep_folder_or_rays_session_logs(tmp_path):
    (tmp_path / "t.py").write_text(TRAINABLE)
    (tmp_path / "space.yaml").write_text(
        "method: random\nmetric: {name: val_loss, goal: minimize}\n"
        "parameters:\n  lr: {values: [0.001, 0.01]}\n  epochs: {value: 3}\n"
    )
    args = [
        "tune",
        "--trainable",
        f"{tmp_path / 't.py'}:objective",
        "--space",
        str(tmp_path / "space.yaml"),
        "--storage",
        str(tmp_path / "sw"),
        "--name",
        "s",
        "--num-samples",
        "2",
        "--set",
        f"api_token={SET_TOKEN}",
    ]
    with sweeplab_process(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, WANDB_API_KEY=ENV_KEY, AWS_SECRET_ACCESS_KEY=AWS_KEY
    ) as proc:
        out, _ = proc.communicate(timeout=600)
        logs = list(Path(proc.ray_tmp).rglob("runtime_env_agent.log"))
        hits = [
            str(p)
            for root in (tmp_path / "sw", Path(proc.ray_tmp))
            for p in root.rglob("*")
            if p.is_file() and any(s.encode() in p.read_bytes() for s in (ENV_KEY, AWS_KEY, SET_TOKEN))
        ]
    text = out.decode()
    assert proc.returncode == 0, text[-2000:]
    assert logs and hits == [] and not any(s in text for s in (ENV_KEY, AWS_KEY, SET_TOKEN))
    errors = [p.read_text() for p in (tmp_path / "sw" / "s").rglob("error.txt")]
    assert errors and all("auth failed: *** / ***" in e for e in errors)  # the trials ran with the token
    from sweeplab import store

    trials, _ = store.read_tables(str(tmp_path / "sw" / "s"), "val_loss", "min")
    assert set(trials["token_length"]) == {len(SET_TOKEN)} and "config/api_token" not in trials
    meta = json.loads((tmp_path / "sw" / "s" / "sweep.json").read_text())
    assert meta["masked"] == ["api_token"] and meta["options"]["sets"] == ["api_token=***"]


def test_what_a_trainable_prints_has_its_secrets_masked(monkeypatch, capsys):
    """Issue 34.4: a trainable that prints its config carried --set api_token=... into Ray's worker logs."""
    monkeypatch.setenv("SWEEPLAB_SECRET_api_token", json.dumps("tok-abcdef123456"))

    def train(config):
        print(f"config: {config}")
        print("token", config["api_token"], file=sys.stderr)
        return config["api_token"]

    assert secrets.guarded(train, ["api_token"])({"lr": 0.1}) == "tok-abcdef123456"  # the trainable gets it
    out, err = capsys.readouterr()
    assert "tok-abcdef123456" not in out + err
    assert out == "config: {'lr': 0.1, 'api_token': '***'}\n" and err == "token ***\n"
    assert sys.stdout is not None and "Masked" not in type(sys.stdout).__name__  # put back
