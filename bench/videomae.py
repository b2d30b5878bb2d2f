"""videomae (report 002): does the tiny model learn, and is decoding the bottleneck?

  1. the tiny VideoMAE on a generated, separable video task (a disc moving in one of
     ``--classes`` directions), on CPU: val / test top-1 against chance
  2. clips per second at the real shape (16 frames, 224 px): decoding mp4 into the cache
     (one process, then a pool), reading the cache, a trial's input pipeline (read +
     random resized crop + normalise, on CPU), and what the base model consumes in
     training on this machine's CPU. Videos: copies of ../shared/data/video's real clips
     (H.264, 640x272 x 250 frames and 1280x720 x 132 frames; WLASL's are smaller).
  3. the base model's training speed at bf16 with batch 16 and its peak memory need a
     GPU: reported only where torch sees one.

    python bench/videomae.py [--videos 16] [--epochs 25] [--no-base]

Human lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from _common import SHARED_DATA, table  # noqa: E402

from sweeplab import engine  # noqa: E402
from sweeplab.data import wlasl, wlasl_cache  # noqa: E402
from sweeplab.local_training import LocalSession  # noqa: E402
from sweeplab.models.videomae import build_videomae  # noqa: E402
from sweeplab.trainables import videomae as vm  # noqa: E402


def learning(cache: str, classes: int, epochs: int) -> dict:
    cfg = vm.VideomaeConfig.from_dict(
        {
            "model_size": "tiny",
            "num_frames": 8,
            "image_size": 32,
            "synthetic_size": 40 * classes,
            "synthetic_classes": classes,
            "epochs": epochs,
            "batch_size": 16,
            "lr": 3e-3,
            "warmup_ratio": 0.1,
            "label_smoothing": 0.0,
            "early_stop_patience": 0,
            "cache_dir": cache,
            "decode_workers": 1,
        }
    )
    t0 = time.perf_counter()
    data = vm.load_data(cfg)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        session = LocalSession(Path(out), cpus=2, echo=lambda line: None, device="cpu")
        row = engine.fit(vm.VideomaeTask, cfg, data, session, engine.Monitor("val_accuracy", "max"))
    t2 = time.perf_counter()
    history = session.history
    return {
        "classes": classes,
        "chance": 1 / classes,
        "clips train/val/test": "/".join(str(len(data.clips[s])) for s in wlasl.SPLITS),
        "epochs": row["epoch"],
        "val top-1 after epoch 1": history[0]["val_accuracy"],
        "best val top-1": max(h["val_accuracy"] for h in history),
        "last val top-1": row["val_accuracy"],
        "test top-1": row["test_accuracy"],
        "data s": t1 - t0,
        "train s": t2 - t1,
    }


def wlasl_tree(root: Path, videos: int) -> Path:
    """WLASL_v0.3.json over copies of the real sample clips: ``videos`` in train, one each
    in val and test."""
    sources = [SHARED_DATA / "video" / "bikes.mp4", SHARED_DATA / "video" / "bigbuckbunny.mp4"]
    (root / "videos").mkdir(parents=True, exist_ok=True)
    glosses = []
    for n, split in enumerate(["train"] * videos + ["val", "test"]):
        video_id = f"{n:05d}"
        shutil.copyfile(sources[n % 2], root / "videos" / f"{video_id}.mp4")
        glosses.append(
            {
                "gloss": f"g{n}",
                "instances": [
                    {
                        "video_id": video_id,
                        "split": split,
                        "frame_start": 1,
                        "frame_end": -1,
                        "fps": 25,
                        "bbox": None,
                        "signer_id": 0,
                        "instance_id": 0,
                        "source": "bench",
                        "url": "",
                        "variation_id": 0,
                    }
                ],
            }
        )
    (root / "WLASL_v0.3.json").write_text(json.dumps(glosses))
    return root


def throughput(work: Path, videos: int, base: bool) -> list[dict]:
    root = wlasl_tree(work / "tree", videos)
    opts = wlasl_cache.ClipOptions(num_frames=16, size=224)
    rows = []
    for workers in (1, 2):
        cache = str(work / f"cache{workers}")
        t = time.perf_counter()
        data = wlasl.load_wlasl(root, videos + 2, opts, cache_dir=cache, workers=workers)
        seconds = time.perf_counter() - t
        rows.append(
            {
                "what": f"decode mp4 -> cache, {workers} process{'es' if workers > 1 else ''}",
                "clips/s": data.decoded / seconds,
                "seconds": seconds,
                "clips": data.decoded,
            }
        )
    t = time.perf_counter()
    again = wlasl.load_wlasl(root, videos + 2, opts, cache_dir=cache, workers=2)
    seconds = time.perf_counter() - t
    rows.append(
        {
            "what": "second load (all cached; clips decoded: see clips)",
            "clips/s": (videos + 2) / seconds,
            "seconds": seconds,
            "clips": again.decoded,
        }
    )
    paths = data.clips["train"]
    wlasl_cache.read_clips(paths)  # into the page cache, as on a node where trials already ran
    reps = 5
    t = time.perf_counter()
    for _ in range(reps):
        wlasl_cache.read_clips(paths)
    seconds = time.perf_counter() - t
    rows.append(
        {
            "what": "read cached clips (uint8 16x224x224x3)",
            "clips/s": reps * len(paths) / seconds,
            "seconds": seconds,
            "clips": reps * len(paths),
        }
    )
    cfg = vm.VideomaeConfig.from_dict({"data": str(root), "subset": videos + 2, "batch_size": 16, "cache_dir": cache})
    task = vm.VideomaeTask(cfg, data, LocalSession(work / "run", echo=lambda line: None, device="cpu"))
    task.on_epoch_start(1)
    rows_idx = torch.arange(16) % len(paths)
    t = time.perf_counter()
    for _ in range(reps):
        task.clips("train", rows_idx, train=True)
    seconds = time.perf_counter() - t
    rows.append(
        {
            "what": "trial input pipeline on CPU (read, crop, normalise)",
            "clips/s": reps * len(rows_idx) / seconds,
            "seconds": seconds,
            "clips": reps * len(rows_idx),
        }
    )
    if base:
        torch.set_num_threads(os.cpu_count() or 1)
        model = build_videomae(100, size="base")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        x = torch.randn(1, 16, 3, 224, 224)
        for _ in range(2):  # the first step allocates; time the second
            t = time.perf_counter()
            model(x).logits.sum().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - t
        rows.append(
            {
                "what": f"base model training on this CPU ({torch.get_num_threads()} threads, batch 1)",
                "clips/s": 1 / seconds,
                "seconds": seconds,
                "clips": 1,
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=16, help="copies of the sample clips to decode")
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--no-base", action="store_true", help="skip the base model's CPU step (about 40 s)")
    args = p.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-videomae-") as work:
        learned = learning(str(Path(work) / "cache"), args.classes, args.epochs)
        print(
            f"1. tiny VideoMAE (2 layers, 64 wide), generated task: {args.classes} directions of motion, 8 frames of 32 px, CPU"
        )
        print(table([learned], list(learned)))
        speeds = throughput(Path(work), args.videos, not args.no_base)
        print(f"\n2. clips per second at 16 frames x 224 px ({args.videos} real H.264 clips, {os.cpu_count()} CPUs)")
        print(table(speeds, ["what", "clips/s", "seconds", "clips"]))
    gpu = None
    if torch.cuda.is_available():
        print(
            "\n3. a GPU is present: run the base model's bf16 batch-16 step there with `sweeplab train videomae --set ...`"
        )
        gpu = torch.cuda.get_device_name(0)
    else:
        print("\n3. no GPU here: the base model's bf16 steps/s at batch 16 and its peak GPU memory are not measured")
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(
        json.dumps(
            {
                "bench": "videomae",
                "learning": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in learned.items()},
                "clips_per_s": {r["what"]: round(r["clips/s"], 2) for r in speeds},
                "gpu": gpu,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
