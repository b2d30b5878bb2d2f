"""videomae (report 002): WLASL metadata (the real files and a fixture in their schema),
PyAV decoding with frame ranges and crops, the decoded-clip cache, augmentation, the
model builders, gradient accumulation, the metrics, presets, and a smoke sweep through Ray."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import shared_file

from sweeplab import engine, plan, spaces
from sweeplab.cli import main
from sweeplab.data import wlasl, wlasl_cache
from sweeplab.data.video import decode_clip, segment_indices, square_region, write_video
from sweeplab.errors import UserError
from sweeplab.local_training import LocalSession
from sweeplab.metrics import classification_metrics
from sweeplab.models.videomae import build_videomae
from sweeplab.trainables import videomae as vm

GLOSSES = ("book", "drink", "computer")
SIDE, FRAMES = 32, 12
TINY = {
    "model_size": "tiny",
    "num_frames": 4,
    "image_size": 16,
    "subset": 3,
    "epochs": 1,
    "batch_size": 4,
    "decode_workers": 1,
}


def clip_of(label: int, frames: int = FRAMES, rng=None) -> np.ndarray:
    """A block whose place and colour tell the class, over noise."""
    rng = rng or np.random.default_rng(label)
    out = rng.integers(0, 60, size=(frames, SIDE, SIDE, 3), dtype=np.uint8)
    out[:, 4 + 8 * label : 12 + 8 * label, 8:24, label] = 230
    return out


def ramp(frames: int) -> np.ndarray:
    """Frame i is grey level 20 + 8 i: decoded values tell which frames were sampled."""
    return np.stack([np.full((SIDE, SIDE, 3), 20 + 8 * i, np.uint8) for i in range(frames)])


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A WLASL root in the real schema: 3 glosses x (2 train, 1 val, 1 test) videos, one
    listed video missing, one corrupt, one cut from a longer source (its range is in the
    source's frames), one raw video whose range marks the sign."""
    base = tmp_path_factory.mktemp("wlasl")
    entries, n = [], 0
    for label, gloss in enumerate(GLOSSES):
        instances = []
        for split in ("train", "train", "val", "test"):
            n += 1
            video_id = f"{n:05d}"
            write_video(base / "videos" / f"{video_id}.mp4", clip_of(label, rng=np.random.default_rng(n)))
            instances.append(
                {
                    "bbox": [4, 2, 28, 30],
                    "fps": 25,
                    "frame_end": -1,
                    "frame_start": 1,
                    "instance_id": len(instances),
                    "signer_id": 118,
                    "source": "test",
                    "split": split,
                    "url": "",
                    "variation_id": 0,
                    "video_id": video_id,
                }
            )
        entries.append({"gloss": gloss, "instances": instances})
    extra = entries[0]["instances"]
    extra.append({**extra[0], "video_id": "90001", "split": "train"})  # listed, never downloaded
    (base / "videos" / "90002.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    extra.append({**extra[0], "video_id": "90002", "split": "train"})  # corrupt
    write_video(base / "videos" / "90003.mp4", clip_of(0))  # cut already: WLASL's preprocessing did it
    extra.append({**extra[0], "video_id": "90003", "split": "train", "frame_start": 258, "frame_end": 310})
    write_video(base / "videos" / "90004.mp4", ramp(16))
    extra.append({**extra[0], "video_id": "90004", "split": "train", "frame_start": 5, "frame_end": 12})
    (base / "WLASL_v0.3.json").write_text(json.dumps(entries))
    return base


# ------------------------------------------------------------------ metadata


def test_nslt_and_wlasl100_json_agree_on_the_real_files():
    nslt = wlasl.read_nslt(shared_file("wlasl", "nslt_100.json"))
    assert len(nslt.instances) == 2038 and len(nslt.glosses) == 100
    splits = pd.Series([i.split for i in nslt.instances]).value_counts().to_dict()
    assert splits == {"train": 1442, "val": 338, "test": 258}
    assert nslt.glosses[:3] == ("book", "drink", "computer")  # from wlasl_class_list.txt
    full = wlasl.read_wlasl_json(shared_file("wlasl", "WLASL100.json"))
    assert full.glosses == nslt.glosses
    as_nslt = {i.video_id: (i.label, i.split) for i in nslt.instances}
    assert {i.video_id: (i.label, i.split) for i in full.instances} == as_nslt
    # nslt_300 cut to its first 100 classes is WLASL100; WLASL-K is the first K glosses
    w300 = wlasl.read_nslt(shared_file("wlasl", "nslt_300.json"), num_classes=100)
    assert {i.video_id: (i.label, i.split) for i in w300.instances} == as_nslt
    assert len(wlasl.read_wlasl_json(shared_file("wlasl", "WLASL100.json"), num_classes=10).glosses) == 10
    meta, folder = wlasl.find_metadata(shared_file("wlasl"), 300)
    assert meta.source.endswith("nslt_300.json") and len(meta.instances) == 5118 and folder == shared_file("wlasl")


def test_metadata_errors_name_the_file(tmp_path):
    bad = tmp_path / "WLASL_v0.3.json"
    bad.write_text(json.dumps({"gloss": "x"}))
    with pytest.raises(UserError, match=r"WLASL_v0.3.json: expected WLASL_v0.3.json's shape"):
        wlasl.read_wlasl_json(bad)
    bad.write_text(json.dumps([{"gloss": "x", "instances": [{"video_id": "1", "split": "dev"}]}]))
    with pytest.raises(UserError, match=r"x.instances\[0\]: split 'dev'; allowed: train, val, test"):
        wlasl.read_wlasl_json(bad)
    with pytest.raises(UserError, match="WLASL-5 needs 5 glosses; the file has 1"):
        wlasl.read_metadata(bad, 5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds none of WLASL_v0.3.json, WLASL100.json, nslt_100.json"):
        wlasl.find_metadata(tmp_path / "empty", 100)
    with pytest.raises(UserError, match="no such file or folder"):
        vm.load_data(vm.VideomaeConfig.from_dict({**TINY, "data": str(tmp_path / "nowhere")}))


# ------------------------------------------------------------------ decoding


def test_sampling_and_crop_geometry():
    assert segment_indices(8, 4).tolist() == [1, 3, 5, 7]
    assert segment_indices(2, 4).tolist() == [0, 0, 1, 1]  # a short clip repeats frames evenly
    assert square_region(640, 480) == (80.0, 0.0, 560.0, 480.0)  # the centre square
    assert square_region(640, 480, (385, 37, 885, 720)) == (197.0, 37.0, 640.0, 480.0)  # box clipped, kept square
    assert square_region(100, 100, (10, 20, 30, 60)) == (0.0, 20.0, 40.0, 60.0)


def test_decoding_the_real_clips():
    path = shared_file("video", "bikes.mp4")  # 250 frames, 640 x 272
    clip, used = decode_clip(path, 16, 224)
    assert clip.shape == (16, 224, 224, 3) and clip.dtype == np.uint8 and used
    assert clip.std() > 10 and not np.array_equal(clip[0], clip[-1])
    head, used = decode_clip(path, 16, 64, frame_start=1, frame_end=16)
    assert used and not np.array_equal(head, decode_clip(path, 16, 64, frame_start=200, frame_end=215)[0])
    # a range past the file's end: a clip WLASL already cut, sampled whole
    whole, used = decode_clip(path, 16, 64, frame_start=300, frame_end=400)
    assert not used and np.array_equal(whole, decode_clip(path, 16, 64)[0])
    big, _ = decode_clip(shared_file("video", "bigbuckbunny.mp4"), 8, 112, box=(385, 37, 885, 720))
    assert big.shape == (8, 112, 112, 3)


def test_frame_ranges_on_generated_videos(root):
    clip, used = decode_clip(root / "videos" / "90004.mp4", 4, 16, frame_start=5, frame_end=12)
    # frames 5..12 (1-based) hold levels 52..108; their segment middles are frames 6, 8, 10, 12
    assert used and clip.reshape(4, -1).mean(axis=1) == pytest.approx([60, 76, 92, 108], abs=4)
    _, used = decode_clip(root / "videos" / "90003.mp4", 4, 16, frame_start=258, frame_end=310)
    assert not used


# ------------------------------------------------------------------ clip cache


def test_cache_skips_bad_videos_and_a_second_build_decodes_nothing(root, tmp_path, monkeypatch):
    opts = wlasl_cache.ClipOptions(num_frames=4, size=16)
    first = wlasl.load_wlasl(root, 3, opts, cache_dir=str(tmp_path), workers=2)  # the process pool
    assert first.skipped == {"missing": ["90001"], "corrupt": ["90002"]}
    assert first.decoded == 15 and [len(first.clips[s]) for s in wlasl.SPLITS] == [8, 3, 3]
    assert "Invalid data" in next((tmp_path / wlasl_cache.CLIPS).glob("90002-*.err")).read_text()
    clips = wlasl_cache.read_clips(first.clips["train"])
    assert clips.shape == (8, 4, 16, 16, 3) and clips.dtype == np.uint8

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a cached clip")

    monkeypatch.setattr(wlasl_cache, "decode_clip", no_decoding)
    second = wlasl.load_wlasl(root, 3, opts, cache_dir=str(tmp_path), workers=2)
    assert second.decoded == 0 and second.clips == first.clips and second.skipped == first.skipped
    monkeypatch.undo()
    # another frame count is another entry; a replaced video is decoded again, alone
    assert (
        wlasl.load_wlasl(
            root, 3, wlasl_cache.ClipOptions(num_frames=2, size=16), cache_dir=str(tmp_path), workers=1
        ).decoded
        == 15
    )
    video = root / "videos" / "00002.mp4"
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert wlasl.load_wlasl(root, 3, opts, cache_dir=str(tmp_path), workers=1).decoded == 1


def test_no_readable_video_in_a_split_is_one_clear_error(root, tmp_path):
    with pytest.raises(
        UserError, match=r"the train split holds no readable video; 2038 of 2038 videos are missing under"
    ):
        wlasl.load_wlasl(shared_file("wlasl", "nslt_100.json"), 100, video_dir=str(tmp_path), cache_dir=str(tmp_path))


# ------------------------------------------------------------------ model, config, training


def test_model_from_a_local_folder_a_size_or_a_config(tmp_path):
    with pytest.raises(UserError, match=r"pretrained: .*/absent: no such folder .*nothing is downloaded"):
        build_videomae(3, pretrained=str(tmp_path / "absent"))
    model = build_videomae(5, size="tiny", num_frames=4, image_size=16)
    assert model(torch.zeros(2, 4, 3, 16, 16)).logits.shape == (2, 5)
    model.save_pretrained(tmp_path / "hf")
    loaded = build_videomae(3, pretrained=str(tmp_path / "hf"), num_frames=4, image_size=16, class_names=GLOSSES)
    assert loaded.config.id2label[2] == "computer" and loaded.classifier.out_features == 3  # a new head
    assert torch.equal(
        loaded.videomae.embeddings.patch_embeddings.projection.weight,
        model.videomae.embeddings.patch_embeddings.projection.weight,
    )
    with pytest.raises(UserError, match="takes clips of 4 frames of 16 px; set num_frames=4 image_size=16"):
        build_videomae(3, pretrained=str(tmp_path / "hf"), num_frames=16, image_size=224)
    from_config = build_videomae(3, model_config=str(tmp_path / "hf" / "config.json"), num_frames=4, image_size=16)
    assert from_config.config.hidden_size == 64 and from_config.classifier.out_features == 3
    checkpointed = build_videomae(3, size="tiny", num_frames=4, image_size=16, gradient_checkpointing=True)
    checkpointed.train()
    checkpointed(torch.randn(2, 4, 3, 16, 16)).logits.sum().backward()
    assert any(getattr(m, "gradient_checkpointing", False) for m in checkpointed.modules())


def test_config_warmup_ratio_and_checks():
    assert vm.VideomaeConfig().warmup_epochs == 3  # the report: 10% of 30 epochs = 3
    assert vm.VideomaeConfig.from_dict({"epochs": 50, "warmup_ratio": 0.15}).warmup_epochs == 8  # "7-8 epochs en 50"
    cfg = vm.VideomaeConfig.from_dict({"epochs": 70, "warmup_ratio": 0.12})
    assert (
        cfg.warmup_epochs == 8 and vm.VideomaeConfig.from_dict(cfg.to_dict()) == cfg
    )  # round trip (workers, restores)
    assert vm.VideomaeConfig.from_dict({"warmup_ratio": 0.0, "warmup_epochs": 2}).warmup_epochs == 2
    with pytest.raises(UserError, match="warmup_ratio 0.1 gives 3 warmup epochs of 30, but warmup_epochs is 5"):
        vm.VideomaeConfig.from_dict({"warmup_epochs": 5})
    with pytest.raises(UserError, match="'grad_accum_steps' \\(5\\) must be <= batch_size \\(4\\)"):
        vm.VideomaeConfig.from_dict({"batch_size": 4, "grad_accum_steps": 5})
    with pytest.raises(UserError, match="'label_smoothing' must be in"):
        vm.VideomaeConfig.from_dict({"label_smoothing": 1.5})


def test_linear_decay_after_warmup():
    cfg = vm.VideomaeConfig.from_dict(
        {"epochs": 5, "warmup_ratio": 0.0, "warmup_epochs": 1, "lr": 1.0, "lr_schedule": "linear"}
    )
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = engine.make_lr_schedule(cfg, opt, "max")
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 0.75, 0.5, 0.25])


def test_random_resized_crop_keeps_one_crop_per_clip_and_flips_only_on_request():
    x = torch.linspace(0, 1, 16).expand(2, 3, 3, 16, 16).clone()  # value = the column
    gen = torch.Generator().manual_seed(0)
    out = vm.random_resized_crop(x, gen, 0.5, flip=False)
    assert out.shape == x.shape and torch.equal(out[:, 0], out[:, 2])  # every frame cropped alike
    assert (out[..., 1:] >= out[..., :-1] - 1e-6).all()  # never mirrored
    assert not torch.allclose(out, x)
    x = torch.linspace(0, 1, 16).expand(8, 1, 3, 16, 16).clone()
    flipped = vm.random_resized_crop(x, torch.Generator().manual_seed(0), 1.0, flip=True)
    assert (flipped[..., 1:] <= flipped[..., :-1] + 1e-6).all(dim=-1).any()  # some clip mirrored


def test_gradient_accumulation_matches_one_whole_batch(root, tmp_path):
    data = wlasl.load_wlasl(root, 3, wlasl_cache.ClipOptions(4, 16), cache_dir=str(tmp_path), workers=1)
    rows = torch.tensor([0, 3, 5, 6, 7])
    results = []
    for steps in (1, 3):  # 5 clips as 2 + 2 + 1, with class weights and label smoothing
        cfg = vm.VideomaeConfig.from_dict(
            {
                **TINY,
                "augment": False,
                "batch_size": 5,
                "grad_accum_steps": steps,
                "label_smoothing": 0.1,
                "clip_grad_norm": 0.0,
            }
        )
        task = vm.VideomaeTask(cfg, data, LocalSession(tmp_path / "run", echo=lambda line: None, device="cpu"))
        torch.manual_seed(0)
        model = task.build_model()
        with torch.no_grad():  # what one whole batch's weighted, smoothed mean loss is
            expected = torch.nn.functional.cross_entropy(
                model(task.clips("train", rows)).logits,
                task.labels["train"][rows],
                weight=task.weight,
                label_smoothing=0.1,
            )
        task.on_epoch_start(1)
        loss = task.manual_step(model, rows, task.configure_optimizers(model))["loss"]
        results.append((loss, torch.cat([p.grad.flatten() for p in model.parameters()])))
        assert loss == pytest.approx(float(expected), rel=1e-5)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)  # the same gradient


def test_one_run_reports_every_metric_and_the_skipped_videos(root, tmp_path):
    cfg = vm.VideomaeConfig.from_dict({**TINY, "data": str(root), "epochs": 2, "cache_dir": str(tmp_path)})
    session = LocalSession(tmp_path / "run", cpus=1, echo=lambda line: None, device="cpu")
    row = engine.fit(vm.VideomaeTask, cfg, vm.load_data(cfg), session, engine.Monitor("val_accuracy", "max"))
    for split in ("val", "test"):
        for key in (
            "loss",
            "accuracy",
            "top5_accuracy",
            "macro_f1",
            "weighted_f1",
            "macro_precision",
            "weighted_precision",
            "macro_recall",
            "weighted_recall",
        ):
            assert math.isfinite(row[f"{split}_{key}"]), f"{split}_{key}"
        matrix = np.asarray(json.loads(row[f"{split}_confusion_matrix"]))
        assert matrix.shape == (3, 3) and matrix.sum() == 3
        assert set(json.loads(row[f"{split}_per_class_accuracy"])) == set(GLOSSES)
    assert (row["videos_missing"], row["videos_corrupt"]) == (1, 1)
    assert json.loads(row["videos_skipped"]) == {"missing": ["90001"], "corrupt": ["90002"]}
    first = session.history[0]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(first)
    # per epoch scalars only; the matrices come with each new best epoch, beside its test metrics
    assert all(("val_confusion_matrix" in r) == r["is_best"] == ("test_accuracy" in r) for r in session.history)


# ------------------------------------------------------------------ metrics, spaces, sweeps


def test_top_k_precision_recall_and_per_class_accuracy():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    m = classification_metrics(
        [0, 2, 1, 2],
        scores.argmax(1),
        ["a", "b", "c"],
        "val_",
        scores=scores,
        top_k=(1, 2, 5),
        precision_recall=True,
        per_class="json",
        confusion=False,
    )
    assert (m["val_top1_accuracy"], m["val_top2_accuracy"], m["val_top5_accuracy"]) == (0.5, 1.0, 1.0)
    assert m["val_macro_precision"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert m["val_macro_recall"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert json.loads(m["val_per_class_accuracy"]) == {"a": 1.0, "b": 0.0, "c": 0.5}
    assert "val_confusion_matrix" not in m and "val_recall_a" not in m


# The report's named configurations, transcribed from it.
REPORT = {
    "videomae_wlasl100": {
        "baseline": {
            "batch_size": 16,
            "epochs": 30,
            "lr": 1e-4,
            "weight_decay": 0.05,
            "label_smoothing": 0.1,
            "warmup_ratio": 0.1,
            "early_stop_patience": 5,
            "clip_grad_norm": 1.0,
        },
        "aggressive": {
            "batch_size": 12,
            "epochs": 50,
            "lr": 5e-5,
            "weight_decay": 0.1,
            "label_smoothing": 0.15,
            "warmup_ratio": 0.15,
            "early_stop_patience": 7,
            "clip_grad_norm": 0.5,
        },
    },
    "videomae_wlasl300": {
        "recommended": {
            "batch_size": 12,
            "epochs": 50,
            "lr": 5e-5,
            "weight_decay": 0.08,
            "label_smoothing": 0.15,
            "warmup_ratio": 0.15,
            "early_stop_patience": 7,
            "clip_grad_norm": 1.0,
        },
        "optimistic": {
            "batch_size": 16,
            "epochs": 70,
            "lr": 8e-5,
            "weight_decay": 0.06,
            "label_smoothing": 0.12,
            "warmup_ratio": 0.12,
            "early_stop_patience": 10,
            "clip_grad_norm": 1.5,
        },
    },
}
GRIDS = {
    "videomae_wlasl100": {
        "lr": [5e-5, 1e-4, 2e-4],
        "batch_size": [12, 16],
        "weight_decay": [0.05, 0.08, 0.1],
        "label_smoothing": [0.1, 0.15],
    },
    "videomae_wlasl300": {
        "lr": [3e-5, 5e-5, 8e-5],
        "batch_size": [8, 12, 16],
        "weight_decay": [0.06, 0.08, 0.1],
        "epochs": [50, 70],
    },
}


@pytest.mark.parametrize("name, subset", [("videomae_wlasl100", 100), ("videomae_wlasl300", 300)])
def test_spaces_hold_the_reports_grid_and_its_named_configurations(name, subset):
    spec = spaces.load(spaces.shipped()[name], vm.VideomaeConfig, "videomae")
    for key, values in GRIDS[name].items():
        assert spec.parameters[key].values == values, key
    assert spec.fixed["subset"] == subset and spec.fixed["class_weighted"] is True
    presets = spec.preset_configs()
    assert set(presets) == set(REPORT[name])
    for preset, values in REPORT[name].items():
        assert {k: presets[preset][k] for k in values} == values
        vm.VideomaeConfig.from_dict(presets[preset])


def test_smoke_pins_the_tiny_model_and_a_gpu_trial_still_prepares_on_a_cpu_machine(tmp_path):
    smoke = plan.prepare(plan.SweepOptions(target="videomae", storage=str(tmp_path), smoke=True))
    assert (smoke.spec.fixed["model_size"], smoke.spec.fixed["image_size"], smoke.spec.fixed["epochs"]) == (
        "tiny",
        32,
        2,
    )
    assert (
        smoke.trial_plan.gpus == 1.0 and smoke.num_samples == 2
    )  # the registry's share; without GPUs, trials run on CPU


@pytest.mark.slow
def test_smoke_sweep_through_ray_on_a_wlasl_tree(root, storage, ray_local):
    code = main(
        [
            "tune",
            "videomae",
            "--smoke",
            "--set",
            f"data={root}",
            "--set",
            "subset=3",
            "--search",
            "random",
            "--scheduler",
            "fifo",
            "--storage",
            str(storage),
            "--name",
            "v",
            "--quiet",
        ]
    )
    assert code == 0
    trials = pd.read_parquet(storage / "v" / "trials.parquet")
    history = pd.read_parquet(storage / "v" / "history.parquet")
    assert len(trials) == 2 and set(trials["status"]) == {"TERMINATED"} and set(trials["device"]) == {"cpu"}
    assert set(trials["preset"]) == {"baseline", "aggressive"}
    assert (trials["videos_missing"] == 1).all() and (trials["videos_corrupt"] == 1).all()
    assert all(json.loads(s) == {"missing": ["90001"], "corrupt": ["90002"]} for s in trials["videos_skipped"])
    assert all(np.asarray(json.loads(m)).shape == (3, 3) for m in trials["test_confusion_matrix"])
    assert set(history["epoch"]) == {1, 2}
    assert (
        history[["train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5_accuracy"]].notna().all().all()
    )
