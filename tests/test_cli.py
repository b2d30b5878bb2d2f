"""The command line as a user meets it: help, listing without torch, errors, `train`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sweeplab import registry, spaces
from sweeplab.cli import main


def test_list_and_show_import_neither_torch_nor_ray():
    code = (
        "import sys; from sweeplab.cli import main; main(['list']); main(['show', 'seqclf']);"
        "print(sorted(m for m in ('torch', 'ray', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    for exp_id in registry.EXPERIMENTS:
        assert exp_id in out
    assert "preset original" in out and "seqclf_lstm" in out


@pytest.mark.parametrize(
    "command", [[], ["list"], ["show"], ["tune"], ["resume"], ["train"], ["analyze"], ["suggest"], ["best"], ["report"]]
)
def test_every_command_answers_help(command, capsys):
    assert main([*command, "--help"]) == 0
    assert "usage: sweeplab" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tune", "freq", "--bogus"], "unrecognized arguments: --bogus"),
        (
            ["tune", "nope"],
            f"unknown experiment or space 'nope'; known: {', '.join(sorted({*registry.EXPERIMENTS, *spaces.shipped()}))}",
        ),
        (["show", "nope"], "unknown experiment 'nope'"),
        (["tune", "freq", "--set", "hiden_size=3"], "--set hiden_size: not a field of FreqConfig"),
        (["tune", "freq", "--set", "lr"], "--set 'lr': expected KEY=VALUE"),
        (["tune", "freq", "--max-epochs", "0"], "--max-epochs 0: must be in [1, 1000000]"),
        (["tune", "freq", "--space", "/nonexistent/space.yaml"], "/nonexistent/space.yaml: no such space file"),
        (["tune", "--trainable", "/nonexistent/mine.py:f", "--space", "freq"], "no such file"),
        (["resume", "/nonexistent"], "/nonexistent: no sweep.json here"),
        (["train", "freq", "--preset", "nope"], "no preset 'nope'; presets: initial, tuned, serial, long, large"),
        (["train", "seqclf", "--preset", "original", "--set", "data=/nonexistent.csv"], "/nonexistent.csv"),
        (["tune", "freq", "--seed", "-1"], "--seed -1: must be in [0, 2**32)"),
        (["tune", "freq", "--seed", str(2**32)], "--seed 4294967296: must be in [0, 2**32)"),
        (["tune", "freq", "--seed", "1e20"], "argument --seed: invalid int value: '1e20'"),
        (["tune", "freq", "--cpus-per-trial", "nan"], "--cpus-per-trial nan: must be > 0 (CPUs a trial holds)"),
        (["tune", "freq", "--gpus-per-trial", "nan"], "--gpus-per-trial nan: must be >= 0"),
        (["tune", "freq", "--time-budget", "nan"], "--time-budget nan: must be > 0 seconds"),
        (["tune", "freq", "--time-budget=-inf"], "--time-budget -inf: must be > 0 seconds"),
        (["tune", "freq", "--time-budget", "inf"], "--time-budget inf: must be > 0 seconds"),
        *[
            (
                ["tune", "freq", "--name", name],
                f"--name {name!r}: a folder name, without '/', '\\' or NUL bytes, and not '.' or '..'",
            )
            for name in ("..", ".", "", "a/../..", "a\\b", "a\0b")
        ],
        (["tune", "freq", "--set", "lr=nan"], "--set lr: must be a finite number, got nan"),
        (["tune", "freq", "--set", "seed=-1"], "--set seed: FreqConfig: key 'seed' must be in [0, 2**32), got -1"),
        (["tune", "seqclf", "--set", "data=missing.csv"], "missing.csv: no such file or folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, *(["--storage", str(tmp_path)] if argv[0] == "tune" else [])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err
    assert not list(tmp_path.iterdir())  # nothing was written


def test_a_relative_data_path_reaches_trials_absolute(tmp_path, monkeypatch, capsys):
    from sweeplab import plan

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ecg.csv").write_text("")
    prep = plan.prepare(plan.SweepOptions(target="seqclf", sets=["data=ecg.csv"], storage="s"))
    assert prep.spec.param_space()["data"] == prep.spec.pins["data"] == str(tmp_path / "ecg.csv")
    assert main(["tune", "seqclf", "--set", "data=gone.csv", "--storage", "s"]) == 2
    assert (
        capsys.readouterr().err.strip() == f"sweeplab: error: --set data: {tmp_path}/gone.csv: no such file or folder"
    )


def test_list_into_a_pipe_closed_early_ends_quietly():
    """`sweeplab list | head -1`: the reader goes away; no BrokenPipeError traceback."""
    code = "import sys; from sweeplab.cli import main_entry; sys.argv = ['sweeplab', 'list']; main_entry()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the child has written anything
    err = proc.stderr.read()
    assert proc.wait(60) == 0 and err == b"", err


def test_broken_user_trainable_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("def objective(config):\n    return (\n")
    space = tmp_path / "s.yaml"
    space.write_text("metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n")
    assert (
        main(["tune", "--trainable", f"{broken}:objective", "--space", str(space), "--storage", str(tmp_path / "s")])
        == 2
    )
    assert f"{broken} failed to import: SyntaxError" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_bad_data_path_in_tune_fails_before_ray(tmp_path, capsys):
    assert main(["tune", "seqclf", "--set", "data=/nonexistent/ecg.csv", "--storage", str(tmp_path)]) == 2
    assert "/nonexistent/ecg.csv" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_train_runs_a_preset_and_tests_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "freq", "--preset", "tuned", "--smoke", "--out", str(out), "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    best = min(history, key=lambda r: r["val_mse"])
    assert metrics["epoch"] == best["epoch"] and metrics["test_mse"] == best["test_mse"] and 0 < metrics["test_mse"] < 2
    assert (config["hidden_size"], config["seq_length"], config["lr"], config["epochs"]) == (64, 50, 5e-4, 2)
    assert (
        f"held-out test, on the weights of epoch {best['epoch']} (best val_mse): test_mse=" in capsys.readouterr().out
    )


def test_train_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    base = ["train", "freq", "--preset", "initial", "--smoke", "--out", str(out)]
    assert main(base) == 0
    assert main([*base, "--set", "epochs=3", "--resume"]) == 0
    epochs = [json.loads(line)["epoch"] for line in (out / "history.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    assert main(base) == 2  # the folder holds a run: no silent overwrite
    assert main(["train", "freq", "--preset", "initial", "--out", str(tmp_path / "empty"), "--resume"]) == 2


def _commands():
    import argparse

    from sweeplab.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_flag_of_every_command_has_help_the_readme_names_every_command_and_the_cli_reference_every_flag():
    """The README's commands table names each command; the CLI reference (docs/gen.py, from
    this parser) has each command's section with every flag and argument in it."""
    import re
    from pathlib import Path

    missing = [
        f"{name} {a.option_strings[0] if a.option_strings else a.dest}"
        for name, parser in _commands().items()
        for a in parser._actions
        if a.dest != "help" and not a.help
    ]
    assert missing == []
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert [name for name in _commands() if f"sweeplab {name}" not in readme] == []
    reference = (root / "docs" / "generated" / "cli.md").read_text()
    sections = dict(re.findall(r"(?m)^## sweeplab (\S+)\n(.*?)(?=^## |\Z)", reference, re.S))
    assert list(sections) == list(_commands())
    absent = [
        f"{name} {name_in_reference}"
        for name, parser in _commands().items()
        for a in parser._actions
        if a.dest != "help"
        for name_in_reference in (a.option_strings or [a.metavar or a.dest.upper()])
        if f"`{name_in_reference}`" not in sections[name]
    ]
    assert absent == []


def test_a_typo_in_the_experiment_is_refused_before_ray_or_torch_is_imported():
    code = (
        "import sys; from sweeplab.cli import main; rc = main(['tune', 'nope']); "
        "assert rc == 2, rc; assert 'torch' not in sys.modules and 'ray' not in sys.modules, 'imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "unknown experiment or space 'nope'" in out.stderr


def test_the_package_list_names_every_subpackage_so_a_plain_install_has_them_all():
    """pyproject lists packages by hand (search_spaces sits outside src/); a subpackage left
    out is missing from `pip install .` and from a cluster's wheel, though an editable
    install (and so every other test) still finds it."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    src = root / "src"
    found = {".".join(p.parent.relative_to(src).parts) for p in (src / "sweeplab").rglob("__init__.py")}
    assert found - listed == set(), f"pyproject.toml's packages lack {sorted(found - listed)}"


def test_submit_forwards_to_tune_exactly_the_sweep_flags_that_differ_from_their_defaults():
    from sweeplab import cli

    args = cli.build_parser().parse_args(
        [
            "submit",
            "freq",
            "--smoke",
            "--set",
            "lr=0.01",
            "--set",
            "epochs=3",
            "--seed",
            "4",
            "--storage",
            "s3://b/s",
            "--max-failures",
            "0",
            "--address",
            "http://head:8265",
            "--warm-start",
            "s3://b/s/freq-1",
        ]
    )
    assert cli._forwarded(args) == [
        "freq",
        "--seed",
        "4",
        "--storage",
        "s3://b/s",
        "--set",
        "lr=0.01",
        "--set",
        "epochs=3",
        "--smoke",
        "--warm-start",
        "s3://b/s/freq-1",
    ]


def test_tune_joining_a_ray_turns_on_token_mode_when_a_token_is_at_hand(monkeypatch, capsys):
    """A driver joining a Ray started with token auth must send the token (Ray reads
    RAY_AUTH_MODE once, at import): tune does what submit does; a local Ray is left alone."""
    monkeypatch.setenv("RAY_AUTH_MODE", "")  # recorded as it was (unset, say), for the teardown to put back:
    monkeypatch.delenv("RAY_AUTH_MODE")  # the command sets it in os.environ itself
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0123456789abcdef")
    assert main(["tune", "no_such_experiment"]) == 2  # no address: nothing changes
    assert "RAY_AUTH_MODE" not in os.environ
    assert main(["tune", "no_such_experiment", "--address", "127.0.0.1:6379"]) == 2
    assert os.environ.get("RAY_AUTH_MODE") == "token"
    capsys.readouterr()


def test_the_smoke_flags_help_says_what_a_smoke_sweep_runs(tmp_path):
    """--smoke's help said "2 samples" while the default search ran 3 trials: its budget is 2
    trials' epochs, which the pauses may split into more, shorter trials."""
    from sweeplab import plan

    tune = next(a for a in _commands()["tune"]._actions if "--smoke" in a.option_strings)
    assert "2 epochs a trial, a budget of 2 trials" in tune.help and "2 samples" not in tune.help
    p = plan.prepare(plan.SweepOptions(storage=str(tmp_path), target="freq", smoke=True))
    assert (p.num_samples, p.spec.max_epochs(), p.search_budget) == (2, 2, 4)
