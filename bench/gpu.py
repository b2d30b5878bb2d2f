"""GPU figures (run where a GPU is available): what a trial does on one GPU, through
sweeplab's own code.

  A. videomae, base size (random init; ``--pretrained DIR`` for a local Hugging Face
     folder), bf16 autocast as the engine sets it on a GPU, batch 16 of 16 frames x 224 px
     generated clips: training steps / s, clips / s and peak GPU memory (allocated and
     reserved), with gradient checkpointing off and on. Each run is ``engine.fit`` with
     the trainable's own Task and a local session (the path of ``sweeplab train``: epochs,
     validation, checkpoint every epoch); the generated data holds ``--steps`` batches of
     training clips, so an epoch is that many optimizer steps. Epoch 1 warms up (kernels,
     allocator); epochs 2.. are timed, from the first batch asked for to the last step
     done, with torch.cuda.synchronize at both ends. Peak memory is over the whole run.
  B. packing: the same ``--trials`` seqclf trials (synthetic beats, a grid over lr, a fixed
     number of epochs sized so that one trial alone trains about ``--trial-seconds``)
     through sweeplab's tuning path (``plan.prepare`` + ``tuning.run`` on one local Ray,
     ``--cpus-per-trial`` CPUs a trial), once packed ``--pack`` to the GPU (gpus_per_trial
     1/pack) and once one to the GPU (gpus_per_trial 1). Packed runs first, so warm caches
     favour the one-per-GPU arm. Figures: wall time of ``tuning.run``, trials / hour, their
     ratio (goal >= 3x with 4 a GPU), and how many trials ran at once, from the store's
     history (each trial's ``started_at`` and its last report; see ``concurrency``).

    python bench/gpu.py [--only videomae|packing] [--steps 20] [--epochs 3] [--batch-size 16]
                        [--model-size base] [--pretrained DIR] [--no-checkpointing]
                        [--trials 8] [--pack 4] [--trial-seconds 12] [--seqclf-epochs N]
                        [--cpus-per-trial 3] [--num-cpus N] [--cache DIR] [--note TEXT] [--cpu-check]

Without CUDA it refuses (exit 2) unless ``--cpu-check``: then both parts run with tiny
numbers on the CPU (tiny model, 2 seqclf trials, no GPU share) to prove the code path,
and nothing is appended to bench/results. Human lines (Markdown tables), then one JSON
line; GPU figures are appended to bench/results/gpu.jsonl.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import T0, bench_session, record, say, table  # noqa: E402
from _gpu_packing import part_packing  # noqa: E402


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- A. videomae


def timed_task(cls: type, device: Any) -> type:
    """The trainable's own Task, noting each epoch's training time (synchronised at both
    ends), each validation's, and what model it built; what it does is unchanged."""

    class Timed(cls):
        def build_model(self):
            model = super().build_model()
            encoder = getattr(getattr(model, "videomae", None), "encoder", None)
            self.built = {
                "checkpointing_active": bool(getattr(encoder, "gradient_checkpointing", False)),
                "attention": getattr(model.config, "_attn_implementation", None),
                "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            }
            return model

        def train_batches(self, epoch: int):
            self.epochs = getattr(self, "epochs", [])
            sync(device)
            t0, steps, clips = time.perf_counter(), 0, 0
            for batch in super().train_batches(epoch):
                yield batch  # the engine runs the step before asking for the next one
                steps, clips = steps + 1, clips + len(batch)
            sync(device)
            self.epochs.append({"epoch": epoch, "steps": steps, "clips": clips, "train_s": time.perf_counter() - t0})

        def evaluate(self, model, split: str):
            sync(device)
            t0 = time.perf_counter()
            out = super().evaluate(model, split)
            sync(device)
            if split == "val":
                self.epochs[-1]["val_s"] = time.perf_counter() - t0
            return out

    return Timed


def videomae_config(args: argparse.Namespace, cache: str, checkpointing: bool) -> Any:
    from sweeplab import registry

    trainable = registry.get("videomae").load()
    train_clips = args.steps * args.batch_size
    # a 70 / 15 / 15 split; max_rows caps train at steps x batch (val and test stay under it)
    size = math.ceil(train_clips / 0.7) + 2 * args.classes
    values = {
        "model_size": args.model_size,
        "pretrained": args.pretrained,
        "num_frames": args.frames,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "early_stop_patience": 0,
        "synthetic_size": size,
        "synthetic_classes": args.classes,
        "subset": args.classes,
        "max_rows": train_clips,
        "gradient_checkpointing": checkpointing,
        "cache_dir": cache,
    }
    return trainable, trainable.config.from_dict(values)


def videomae_run(trainable: Any, cfg: Any, data: Any, device: Any, cpus: int, work: Path) -> dict[str, Any]:
    import torch

    from sweeplab import engine, registry

    exp = registry.get("videomae")
    tasks: list = []
    cls = timed_task(trainable.task, device)

    def factory(*a):
        tasks.append(cls(*a))
        return tasks[-1]

    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory(dir=work, prefix="videomae-") as out:
        session = bench_session(Path(out), cpus, device.type)
        t0 = time.perf_counter()
        engine.fit(factory, cfg, data, session, engine.Monitor(exp.metric, exp.mode))
        run_s = time.perf_counter() - t0
    task = tasks[-1]
    timed = task.epochs[1:]  # epoch 1 warms up
    steps, clips = sum(e["steps"] for e in timed), sum(e["clips"] for e in timed)
    seconds = sum(e["train_s"] for e in timed)
    reported = [h["reported_at"] for h in session.history]
    row = {
        "checkpointing": "on" if cfg.gradient_checkpointing else "off",
        "checkpointing active": task.built["checkpointing_active"],
        "attention": task.built["attention"],
        "params M": task.built["params_m"],
        "bf16 autocast": bool(cfg.amp and device.type == "cuda"),
        "batch": cfg.batch_size,
        "steps/epoch": task.epochs[0]["steps"],
        "timed steps": steps,
        "steps/s": steps / seconds,
        "clips/s": clips / seconds,
        "warm-up epoch s": task.epochs[0]["train_s"],
        "val s (median)": statistics.median(e["val_s"] for e in task.epochs),
        "epoch s, report to report (median)": statistics.median(b - a for a, b in zip(reported, reported[1:])),
        "checkpoint MB": session.ckpt_mb,
        "run s": run_s,
        "train_loss (last)": session.history[-1].get("train_loss"),
    }
    if device.type == "cuda":
        row["peak allocated GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        row["peak reserved GiB"] = torch.cuda.max_memory_reserved(device) / 2**30
    return row


def part_videomae(args: argparse.Namespace, device: Any, work: Path) -> dict[str, Any]:
    cache = args.cache or str(work / "cache")
    trainable, cfg = videomae_config(args, cache, False)
    say(
        f"A. videomae: generating and caching {cfg.synthetic_size} clips ({args.frames} frames x {args.image_size} px) in {cache}"
    )
    t0 = time.perf_counter()
    data = trainable.load_data(cfg)
    data_s = time.perf_counter() - t0
    counts = {s: len(v) for s, v in data.clips.items()}
    say(
        f"   clips train/val/test {counts['train']}/{counts['val']}/{counts['test']} in {data_s:.0f} s "
        f"({data.decoded} decoded)"
    )
    rows = []
    for checkpointing in [False] if args.no_checkpointing else [False, True]:
        _, cfg = videomae_config(args, cache, checkpointing)
        label = cfg.pretrained or f"{cfg.model_size} (random init)"
        say(
            f"   {label}, batch {cfg.batch_size}, gradient checkpointing {'on' if checkpointing else 'off'}: "
            f"{cfg.epochs} epochs ({cfg.epochs - 1} timed) on {device.type}"
        )
        rows.append(videomae_run(trainable, cfg, data, device, args.cpus, work))
        r = rows[-1]
        mem = (
            f", peak {r['peak allocated GiB']:.2f} GiB allocated / {r['peak reserved GiB']:.2f} reserved"
            if "peak allocated GiB" in r
            else ""
        )
        say(f"   -> {r['steps/s']:.3g} steps/s, {r['clips/s']:.3g} clips/s{mem}")
    return {
        "model": cfg.pretrained or cfg.model_size,
        "frames": args.frames,
        "image_size": args.image_size,
        "batch": args.batch_size,
        "clips": counts,
        "data_s": data_s,
        "rows": rows,
    }


# ---------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("videomae", "packing"), help="run one part (default: both)")
    p.add_argument(
        "--cpu-check",
        action="store_true",
        help="no GPU needed: both parts with tiny numbers on the CPU, to prove the code path; records nothing",
    )
    a = p.add_argument_group("A. videomae")
    a.add_argument("--model-size", default=None, choices=("tiny", "small", "base", "large"), help="default base")
    a.add_argument("--pretrained", metavar="DIR", help="a local Hugging Face VideoMAE folder instead of random init")
    a.add_argument("--batch-size", type=int, default=None, help="default 16")
    a.add_argument("--frames", type=int, default=None, help="default 16")
    a.add_argument("--image-size", type=int, default=None, help="default 224")
    a.add_argument("--steps", type=int, default=None, help="optimizer steps an epoch (default 20)")
    a.add_argument("--epochs", type=int, default=None, help="epochs a run, the first for warm-up (default 3)")
    a.add_argument("--classes", type=int, default=None, help="generated classes (default 10)")
    a.add_argument("--cpus", type=int, default=1, help="torch threads of the run (a videomae trial holds 1 CPU)")
    a.add_argument("--no-checkpointing", action="store_true", help="skip the run with gradient checkpointing on")
    a.add_argument("--cache", help="clip cache folder (default: a temporary one, removed after)")
    b = p.add_argument_group("B. packing")
    b.add_argument("--trials", type=int, default=None, help="seqclf trials an arm (default 8)")
    b.add_argument("--pack", type=int, default=None, help="trials sharing the GPU in the packed arm (default 4)")
    b.add_argument(
        "--trial-seconds", type=float, default=None, help="about how long one trial trains alone (default 12)"
    )
    b.add_argument("--seqclf-epochs", type=int, default=None, help="epochs a trial (default: from --trial-seconds)")
    b.add_argument("--seqclf-size", type=int, default=None, help="synthetic beats (default 12000)")
    b.add_argument("--cpus-per-trial", type=float, default=None, help="default 3")
    b.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--note", default="", help="a remark stored with the figures")
    args = p.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_check:
        print(
            "bench/gpu.py: needs a CUDA GPU and torch sees none here (--cpu-check runs the code path on the CPU "
            "with tiny numbers and records nothing)",
            file=sys.stderr,
        )
        return 2
    gpu_defaults = {
        "model_size": "base",
        "batch_size": 16,
        "frames": 16,
        "image_size": 224,
        "steps": 20,
        "epochs": 3,
        "classes": 10,
        "trials": 8,
        "pack": 4,
        "trial_seconds": 12.0,
        "seqclf_size": 12000,
        "cpus_per_trial": 3.0,
    }
    tiny = {
        "model_size": "tiny",
        "batch_size": 8,
        "frames": 4,
        "image_size": 32,
        "steps": 2,
        "epochs": 2,
        "classes": 3,
        "trials": 2,
        "pack": 2,
        "trial_seconds": 0.1,
        "seqclf_size": 300,
        "cpus_per_trial": 1.0,
    }
    for key, value in (tiny if args.cpu_check else gpu_defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.cpu_check and args.num_cpus is None:
        args.num_cpus = 2
    for key in ("batch_size", "frames", "image_size", "steps", "trials", "pack", "classes"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.epochs < 2:
        p.error("--epochs must be >= 2 (the first warms up)")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    device = torch.device("cuda" if cuda and not args.cpu_check else "cpu")
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else "the CPU (--cpu-check)"
    say(f"bench/gpu.py on {where}, {os.cpu_count()} CPUs, torch {torch.__version__}")

    figures: dict[str, Any] = {"device": where, "note": args.note, "goal_packing_ratio": 3.0}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        if args.only in (None, "videomae"):
            figures["videomae"] = part_videomae(args, device, work)
        if args.only in (None, "packing"):
            figures["packing"] = part_packing(args, device, work)

    if "videomae" in figures:
        v = figures["videomae"]
        print(
            f"\nA. videomae {v['model']}, batch {v['batch']} of {v['frames']} frames x {v['image_size']} px "
            f"(generated clips), engine.fit on {device.type}; steps/s over epochs 2..{args.epochs}"
        )
        cols = [
            "checkpointing",
            "checkpointing active",
            "bf16 autocast",
            "attention",
            "steps/s",
            "clips/s",
            "peak allocated GiB",
            "peak reserved GiB",
            "steps/epoch",
            "timed steps",
            "warm-up epoch s",
            "epoch s, report to report (median)",
            "checkpoint MB",
        ]
        print(table(v["rows"], [c for c in cols if any(c in r for r in v["rows"])]))
    if "packing" in figures:
        k = figures["packing"]
        print(
            f"\nB. packing: {args.trials} seqclf trials x {k['epochs']} epochs through tuning.run on a local Ray "
            f"({k['num_cpus']} CPUs, {k['cpus_per_trial']:g} a trial); goal: packed / one a GPU >= 3x"
        )
        first = "trials a GPU" if device.type == "cuda" else "trials at once (CPU)"
        print(
            table(
                k["arms"],
                [
                    first,
                    "gpus_per_trial",
                    "wall_s",
                    "trials/hour",
                    "trials/hour over the trial span",
                    "peak at once",
                    "mean at once",
                    "median epoch s",
                    "median trial s",
                    "devices",
                    "gpu ids",
                ],
            )
        )
        print(
            f"ratio (trials/hour, packed / one a GPU): {k['ratio']:.2f}x over tuning.run's wall time, "
            f"{k['ratio_over_trial_span']:.2f}x over the trials' span"
        )
    print(f"wall time {time.perf_counter() - T0:.0f} s")
    if args.cpu_check:
        print("CPU check only: these are not GPU figures (tiny model, tiny trials, no GPU share); nothing recorded")
        print(json.dumps({"bench": "gpu", "cpu_check": True, "figures": figures}, default=float))
    else:
        record("gpu", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
