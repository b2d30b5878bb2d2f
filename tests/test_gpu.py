"""On a machine with a CUDA device (marker ``gpu``; skipped by default): trials that hold
a GPU train on it, with bf16 autocast."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from sweeplab.cli import main

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_fractional_gpu_trials_train_on_cuda(storage):
    import ray

    ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        code = main(
            [
                "tune",
                "seqclf",
                "--smoke",
                "--gpus-per-trial",
                "0.5",
                "--set",
                "amp=true",
                "--storage",
                str(storage),
                "--name",
                "g",
                "--quiet",
            ]
        )
    finally:
        ray.shutdown()
    assert code == 0
    trials = pd.read_parquet(storage / "g" / "trials.parquet")
    assert set(trials["status"]) == {"TERMINATED"} and trials["best/val_macro_f1"].notna().all()
    assert trials["device"].str.startswith("cuda").all()
