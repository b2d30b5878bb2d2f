"""sweep.json as one typed record (record.py): what tune writes reads back the same, another
sweeplab's file reads (unknown keys kept and named, missing ones defaulted), a damaged one
is one line naming the file and the key."""

from __future__ import annotations

import json

import pytest

from sweeplab import plan, record
from sweeplab.errors import UserError
from sweeplab.options import SchedulerSpec, SweepOptions
from sweeplab.record import SweepRecord


def test_what_a_new_sweep_records_reads_back_as_the_same_record(tmp_path):
    prep = plan.prepare(
        plan.SweepOptions(target="freq", smoke=True, storage=str(tmp_path), name="s", sets=("lr=0.01",))
    )
    rec = plan.record_of(prep)
    assert (rec.experiment, rec.metric, rec.mode, rec.searcher, rec.version) == (
        "freq",
        "val_mse",
        "min",
        "rung_tpe",
        2,
    )
    assert rec.scheduler == prep.scheduler and rec.options == prep.options and rec.pins["lr"] == 0.01
    record.write(str(tmp_path / "s"), rec)
    assert record.read(str(tmp_path / "s")) == rec
    stored = json.loads((tmp_path / "s" / "sweep.json").read_text())
    # the key layout every earlier sweeplab wrote: the scheduler by name, and its settings beside it
    assert stored["scheduler"] == "promotion" and stored["scheduler_options"]["name"] == "promotion"
    assert "ended" not in stored and stored["record_version"] == 2


def test_an_older_sweep_json_reads_with_its_missing_keys_defaulted(tmp_path):
    (tmp_path / "sweep.json").write_text(
        json.dumps(
            {
                "experiment": "freq",
                "metric": "val_mse",
                "mode": "min",
                "scheduler": "asha",
                "scheduler_options": {"name": "asha", "grace_period": 2, "max_t": 9},
                "options": {"target": "freq", "seed": 3, "sets": ["lr=0.1"]},
            }
        )
    )
    rec = record.read(str(tmp_path))
    assert rec.version == 1 and rec.presets == {} and rec.ended is None and rec.unknown == {}
    assert rec.scheduler == SchedulerSpec("asha", grace_period=2, max_t=9)
    assert rec.options == SweepOptions(target="freq", seed=3, sets=("lr=0.1",))


def test_a_newer_sweep_json_reads_its_unknown_keys_named_once_and_kept_by_an_update(tmp_path, capsys):
    (tmp_path / "sweep.json").write_text(
        json.dumps(
            {
                "record_version": 9,
                "experiment": "freq",
                "metric": "val_mse",
                "mode": "min",
                "scheduler": "promotion",
                "scheduler_options": {"name": "promotion", "rung_spacing": "log"},
                "hypervolume_ref": [0, 1],
                "options": {"target": "freq", "objectives": ["a", "b"]},
            }
        )
    )
    rec = record.read(str(tmp_path))
    assert rec.options == SweepOptions(target="freq") and rec.scheduler == SchedulerSpec("promotion")
    err = capsys.readouterr().err
    assert err.count("note:") == 1 and "hypervolume_ref, options.objectives" in err and "record version 9" in err
    record.read(str(tmp_path))
    assert capsys.readouterr().err == ""  # said once
    record.update(str(tmp_path), ended="2026-12-07T10:00:00")
    again = json.loads((tmp_path / "sweep.json").read_text())
    assert again["hypervolume_ref"] == [0, 1] and again["ended"] == "2026-12-07T10:00:00"


@pytest.mark.parametrize(
    "content, message",
    [
        ({"seed": "3"}, 'seed: expected an integer, got "3"'),
        ({"masked": [1]}, "masked: expected a list of text, got [1]"),
        ({"scheduler_options": "asha"}, 'scheduler_options: expected an object, got "asha"'),
        (
            {"scheduler": "asha", "scheduler_options": {"grace_period": "two"}},
            'scheduler_options.grace_period: expected an integer, got "two"',
        ),
        ({"options": {"seed": True}}, "options.seed: expected an integer, got true"),
        ({"options": {"sets": "lr=1"}}, 'options.sets: expected a list, got "lr=1"'),
        ({"ended": 5}, "ended: expected text, got 5"),
    ],
)
def test_a_value_of_the_wrong_type_is_one_line_naming_the_file_and_key(tmp_path, content, message):
    (tmp_path / "sweep.json").write_text(json.dumps(content))
    with pytest.raises(UserError) as info:
        record.read(str(tmp_path))
    assert str(info.value) == f"{tmp_path / 'sweep.json'}: {message}"


def test_a_folder_without_sweep_json_is_an_empty_record(tmp_path):
    rec = record.read_if_any(str(tmp_path))
    assert rec == SweepRecord() and (rec.scheduler_name, rec.searcher_name) == ("?", "?")


def test_resume_reads_a_sweep_json_with_a_flag_this_version_does_not_know(tmp_path, monkeypatch):
    """Before: ``SweepOptions(**meta["options"])``, a TypeError traceback."""
    from sweeplab import tuning

    folder = tmp_path / "s"
    prep = plan.prepare(plan.SweepOptions(target="freq", smoke=True, storage=str(tmp_path), name="s"))
    record.write(str(folder), plan.record_of(prep))
    stored = json.loads((folder / "sweep.json").read_text())
    stored["options"]["objectives"] = ["val_mse", "epoch_seconds"]
    (folder / "sweep.json").write_text(json.dumps(stored))
    (folder / "space.yaml").write_text(prep.spec.text)
    (folder / "tuner.pkl").write_bytes(b"")

    class Prepared(Exception):
        pass

    def prepared(opts, fresh=True, check_fit=True):
        assert opts.smoke and opts.target == "freq" and opts.name == "s"
        raise Prepared

    monkeypatch.setattr(tuning, "prepare", prepared)
    with pytest.raises(Prepared):
        tuning.resume(str(folder))
