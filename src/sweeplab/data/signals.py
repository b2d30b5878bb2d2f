"""The frequency-extraction assignment's data model (report 004).

Four sinusoids (1, 3, 5, 7 Hz) sampled at ``fs`` over ``duration`` seconds. Every sample
of every sinusoid gets its own amplitude A_i(t) ~ U(1 - a, 1 + a) and phase
phi_i(t) ~ U(0, p) (a = ``amplitude_noise``, p = ``phase_noise``; the assignment has
a = 0.2, p = 2 pi). The input is S(t) = mean_i A_i(t) sin(2 pi f_i t + phi_i(t)) beside a
one-hot selector C; the target is the clean sin(2 pi f_i t) of the selected frequency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SignalSet:
    inputs: np.ndarray  # (n_freqs, T, 1 + n_freqs): S(t) then the one-hot selector
    targets: np.ndarray  # (n_freqs, T, 1)

    @property
    def zero_mse(self) -> float:
        """MSE of the trivial predictor 0 (0.5 for a unit sine over whole periods)."""
        return float(np.mean(self.targets**2))


def make_signals(
    seed: int,
    frequencies: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0),
    fs: float = 1000.0,
    duration: float = 10.0,
    amplitude_noise: float = 0.2,
    phase_noise: float = 2 * math.pi,
) -> SignalSet:
    rng = np.random.default_rng(seed)
    freqs = np.asarray(frequencies, dtype=np.float64)
    t = np.arange(int(round(fs * duration))) / fs
    k = len(freqs)
    amplitude = rng.uniform(1 - amplitude_noise, 1 + amplitude_noise, size=(k, t.size))
    phase = rng.uniform(0.0, phase_noise, size=(k, t.size))
    clean = np.sin(2 * np.pi * freqs[:, None] * t[None, :])
    noisy = amplitude * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phase)
    mixed = noisy.mean(axis=0)

    inputs = np.zeros((k, t.size, 1 + k), dtype=np.float32)
    inputs[:, :, 0] = mixed[None, :]
    for i in range(k):
        inputs[i, :, 1 + i] = 1.0
    return SignalSet(inputs=inputs, targets=clean[:, :, None].astype(np.float32))
