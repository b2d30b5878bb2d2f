"""The MNIST GAN of report 001 (part B) and the digit classifier that scores it:
plain nn.Modules, no training code. Images are flat (n, 784) vectors in [-1, 1]."""

from __future__ import annotations

import torch
from torch import nn

N_PIXELS = 28 * 28
N_CLASSES = 10
LEAK = 0.2  # LeakyReLU slope of the classic GAN recipes


def _mlp(widths: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths, widths[1:]):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(LEAK)]
    return layers


class Generator(nn.Module):
    """latent -> hidden -> 2 hidden -> 784, tanh: pixels in [-1, 1] like the scaled data."""

    def __init__(self, latent_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(*_mlp([latent_dim, hidden, 2 * hidden]), nn.Linear(2 * hidden, N_PIXELS), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """784 -> 2 hidden -> hidden -> 1 logit (the generator mirrored); no sigmoid, so the
    loss can use the stable BCE-with-logits."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(*_mlp([N_PIXELS, 2 * hidden, hidden]), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def gan(latent_dim: int, hidden: int) -> nn.ModuleDict:
    """G and D in one module, so that one state dict (one checkpoint) holds both."""
    return nn.ModuleDict({"g": Generator(latent_dim, hidden), "d": Discriminator(hidden)})


class DigitClassifier(nn.Module):
    """A small CNN: two 3 x 3 conv + max-pool stages, then one hidden layer; logits of 10.
    The hidden layer's activations are the features a Fréchet distance compares (the MNIST
    analogue of FID's Inception pool features)."""

    def __init__(self, channels: int = 16, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * channels * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(n, hidden) activations of the hidden layer, after its ReLU."""
        return self.net[:-1](x)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both from one pass: what scoring a generated batch needs."""
        h = self.features(x)
        return h, self.net[-1](h)
