"""``gan``: an MLP GAN on MNIST digits (report 001, part B), scored by a digit classifier.

The report judged its samples by eye ("recognisable from 1,000 iterations"); a scheduler
needs a number, so a small CNN trained once per data set (cached on disk, shared by every
trial) scores each report's 1,000 generated digits:

- ``frechet_distance`` (the sweep's metric, lower is better): the Fréchet distance between
  Gaussians fitted to the classifier's hidden-layer features of the generated digits and of
  the held-out real ones (FID with this CNN in Inception's place). It grows when samples
  are off the data *and* when they lack its variety, so a generator that draws one digit
  cannot win: ``recognisable`` alone chose one that drew 64 identical zeros (issue 16).
- ``recognisable``: the share the classifier labels with confidence >= 0.9;
  ``recognisable_capped`` the same with each digit counted at most up to its share of the
  real digits (one perfect digit scores 0.1); ``class_entropy`` the entropy (bits) of the
  labels it gives and ``top_class_share`` the commonest label's share: both show collapse.

One iteration = ``d_steps`` discriminator updates then one generator update; the engine's
epoch is ``report_every`` iterations.
"""

from __future__ import annotations

import math
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

import numpy as np
import torch
from torch import nn

from ..config import BaseConfig
from ..data import mnist
from ..data.cache import cache_root, key_digest
from ..data.splits import tensor
from ..engine import Session, backward_step
from ..errors import UserError
from ..progress import Ticker
from ..models.gan import N_CLASSES, N_PIXELS, DigitClassifier, gan
from . import Trainable

PROGRESS_EVERY_S = 10.0  # a line this often while the classifier trains (a minute or so, once)
CONFIDENT = 0.9  # a sample is recognisable when the classifier gives one class this much
VAL_NOISE_SEED, TEST_NOISE_SEED = 1, 2  # fixed: every trial and report scores the same noise
VAL_SAMPLES, TEST_SAMPLES = 1000, 5000
GRID = 8  # the sample grid is GRID x GRID images from the first val noise vectors
D_PROBE = 1000  # real digits on which D's accuracy is measured
EVAL_CHUNK = 1000
FLOOR_SAMPLES = VAL_SAMPLES  # training digits scored like a generator's batch: the distance a perfect one would get


# Part of the cache key: change any of these (or the training below) and old files no longer match.
class _ClassifierSettings(TypedDict):
    version: int
    channels: int
    hidden: int
    lr: float
    batch_size: int
    seed: int
    junk_weight: float
    speckle: float


CLASSIFIER: _ClassifierSettings = {
    "version": 1,
    "channels": 16,
    "hidden": 128,
    "lr": 1e-3,
    "batch_size": 128,
    "seed": 0,
    "junk_weight": 0.5,
    "speckle": 0.15,
}


@dataclass(frozen=True)
class GanConfig(BaseConfig):
    latent_dim: int = 100
    hidden: int = 256  # G: latent -> hidden -> 2 hidden -> 784; D mirrors it
    lr_g: float = 2e-4  # these two replace the engine's single ``lr``
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    label_smoothing: float = 0.0  # one-sided: D's target for real digits is 1 - this
    d_steps: int = 1  # discriminator updates per generator update
    batch_size: int = 64
    report_every: int = 500  # iterations per engine epoch (one report, one sample grid)
    epochs: int = 6  # the report's 3,000 iterations
    lr_schedule: Literal["none", "plateau", "cosine"] = "none"
    synthetic_size: int = 2000  # glyphs generated when no data is given
    max_rows: int = 0  # > 0: a stratified subset of each file, for smoke runs
    test_fraction: float = 0.2  # held out for the classifier's accuracy where there is no t10k pair
    # The split has its own seed so that trials that vary ``seed`` share one classifier.
    data_seed: int = 0
    classifier_steps: int = 1000  # batches of 128; ~40 s on one CPU thread, once per data set

    # Read at every step or epoch start, never stored in a parameter's shape.
    HOT_FIELDS = ("lr_g", "lr_d", "beta1", "beta2", "label_smoothing", "d_steps", "batch_size")

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        self.require_at_least(
            (
                ("latent_dim", 1),
                ("hidden", 1),
                ("d_steps", 1),
                ("batch_size", 1),
                ("report_every", 1),
                ("synthetic_size", 2 * N_CLASSES),
                ("max_rows", 0),
                ("classifier_steps", 1),
            )
        )
        self.require_fraction("label_smoothing", "beta1", "beta2")
        for key in ("lr_g", "lr_d"):
            if getattr(self, key) <= 0:
                raise UserError(f"{name}: key '{key}' must be > 0, got {getattr(self, key)}")
        if not 0 < self.test_fraction < 1:
            raise UserError(f"{name}: key 'test_fraction' must be in (0, 1), got {self.test_fraction}")


# ------------------------------------------------------------------ data and the classifier


def scaled(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, 28, 28) -> float (n, 784) in [-1, 1], the range of the tanh generator."""
    return tensor(images).reshape(-1, N_PIXELS).float().div(127.5).sub(1.0)


def load_data(cfg: GanConfig) -> dict[str, Any]:
    """The training digits (uint8) and the scoring classifier (weights, accuracy)."""
    if cfg.data is None:
        splits = mnist.synthetic_splits(cfg.synthetic_size, cfg.data_seed, cfg.test_fraction)
        source = f"synthetic:{cfg.synthetic_size}"
    else:
        splits = mnist.load_mnist(cfg.data, cfg.data_seed, cfg.test_fraction, cfg.max_rows)
        source = mnist.identity(cfg.data)
    for name, (_, y) in splits.items():
        if len(y) == 0:
            where = cfg.data or f"synthetic_size={cfg.synthetic_size}"
            raise UserError(f"{where}: the {name} split is empty; give more rows")
    settings = {
        "data": source,
        **{k: getattr(cfg, k) for k in TRAINABLE.data_fields if k != "synthetic_size"},
        **CLASSIFIER,
    }
    classifier = cached_classifier(settings, splits)
    return {"train": splits["train"][0], "classifier": classifier, **reference_scores(classifier["state"], splits)}


def load_classifier(state: dict[str, torch.Tensor], device: Any = "cpu") -> DigitClassifier:
    model = DigitClassifier(CLASSIFIER["channels"], CLASSIFIER["hidden"])
    model.load_state_dict(state)
    return model.to(device).eval()


def reference_scores(state: dict[str, torch.Tensor], splits: mnist.Splits) -> dict[str, Any]:
    """What generated digits are compared with, from the real ones: the held-out digits'
    feature statistics (the GAN never trains on them), the distance of ``FLOOR_SAMPLES``
    training digits to them (what a generator that draws the data itself would score:
    the distance's floor at this sample size), and each digit's share of the training set.

    Computed here, once per node, and not cached: ~0.2 s for 1,000 digits, and the
    classifier's cache files and key stay as they were."""
    if len(splits["test"][1]) < 2:
        raise UserError(
            f"gan: {len(splits['test'][1])} held-out digit; the Fréchet distance needs a covariance "
            "of at least 2: give more rows or a larger test_fraction"
        )
    classifier = load_classifier(state)
    x_train, y_train = splits["train"]
    floor_rows = np.random.default_rng(0).permutation(len(x_train))[:FLOOR_SAMPLES]
    reference = feature_stats(_features(classifier, scaled(splits["test"][0])))
    floor = frechet_distance(feature_stats(_features(classifier, scaled(x_train[floor_rows]))), reference)
    return {
        "reference": reference,
        "real_frechet_distance": floor,
        "class_share": np.bincount(y_train, minlength=N_CLASSES) / len(y_train),
    }


def _features(classifier: DigitClassifier, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([classifier.features(chunk) for chunk in images.split(EVAL_CHUNK)]).double().numpy()


def cached_classifier(settings: dict[str, Any], splits: mnist.Splits) -> dict[str, Any]:
    """The classifier for ``settings`` from the disk cache, else trained and stored there:
    ``{"state": weights, "accuracy": ..., "real_recognisable": ...}`` (both on held-out digits)."""
    path = cache_root() / "gan" / f"digit-classifier-{key_digest(settings)}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, pickle.UnpicklingError):
            pass  # written by an incompatible torch, or damaged: train again and replace it
    print(
        f"training the digit classifier that scores the GAN ({settings['classifier_steps']} steps; once per "
        f"data set, then cached in {path.parent})",
        flush=True,
    )
    trained = train_classifier(*splits["train"], *splits["test"], settings["classifier_steps"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Trials of one sweep may train it at the same time: each renames its own whole file.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch.save(trained, tmp)
        os.replace(tmp, path)
    except OSError as e:
        warnings.warn(
            f"{path.parent}: cannot keep the digit classifier ({e.strerror}); set SWEEPLAB_CACHE to a writable folder",
            stacklevel=2,
        )
    return trained


def _junk(x: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Images that are no digit: flat grey levels (blank included), uniform noise, real
    digits with their pixels shuffled. Without them the classifier labels a blank or a
    grey fog with confidence, and a collapsed generator would score as perfect."""
    kind = torch.randint(0, 3, (n, 1), generator=generator)
    flat = (torch.rand(n, 1, generator=generator) * 2 - 1).expand(n, N_PIXELS)
    noise = torch.rand(n, N_PIXELS, generator=generator) * 2 - 1
    shuffled = x[torch.randint(0, len(x), (n,), generator=generator)][:, torch.randperm(N_PIXELS, generator=generator)]
    return torch.where(kind == 0, flat, torch.where(kind == 1, noise, shuffled))


def _speckled(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Up to ``CLASSIFIER["speckle"]`` of the pixels replaced by noise, labels kept: GAN
    samples are speckled, and a speckled 3 is still a 3 (not junk)."""
    hit = torch.rand(x.shape, generator=generator) < torch.rand(len(x), 1, generator=generator) * CLASSIFIER["speckle"]
    return torch.where(hit, torch.rand(x.shape, generator=generator) * 2 - 1, x)


def train_classifier(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, steps: int
) -> dict[str, Any]:
    """A DigitClassifier trained on (x, y) for ``steps`` batches, with junk images it must
    be unsure about (outlier exposure: their target is the uniform distribution)."""
    batch = CLASSIFIER["batch_size"]
    generator = torch.Generator().manual_seed(CLASSIFIER["seed"])
    inputs, labels = scaled(x), tensor(y)
    order = torch.cat([torch.randperm(len(y), generator=generator) for _ in range(math.ceil(steps * batch / len(y)))])
    with torch.random.fork_rng(devices=[]):  # leaves the caller's random stream as it was
        torch.manual_seed(CLASSIFIER["seed"])
        model = DigitClassifier(CLASSIFIER["channels"], CLASSIFIER["hidden"])
    optimizer = torch.optim.Adam(model.parameters(), lr=CLASSIFIER["lr"])
    tick = Ticker("digit classifier: step", steps, PROGRESS_EVERY_S)
    for step, rows in enumerate(order[: steps * batch].view(steps, batch), 1):
        tick(step)
        loss = nn.functional.cross_entropy(model(_speckled(inputs[rows], generator)), labels[rows])
        junk_logits = model(_junk(inputs, batch // 2, generator))
        loss = loss - CLASSIFIER["junk_weight"] * junk_logits.log_softmax(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(chunk).softmax(1) for chunk in scaled(x_test).split(EVAL_CHUNK)]).numpy()
    return {
        "state": model.state_dict(),
        "accuracy": float((probs.argmax(1) == y_test).mean()),
        "real_recognisable": recognisability(probs)[0],
    }


# ------------------------------------------------------------------ scores and pictures


def recognisability(probs: np.ndarray) -> tuple[float, float]:
    """(share of rows whose top probability is >= 0.9, entropy in bits of the top classes'
    distribution: log2(10) when every digit is drawn equally often, 0 for a single digit)."""
    probs = np.asarray(probs, dtype=np.float64)
    recognisable = float((probs.max(axis=1) >= CONFIDENT).mean())
    share = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(probs)
    share = share[share > 0]
    return recognisable, float(-(share * np.log2(share)).sum()) + 0.0  # + 0.0: no -0.0


def digit_scores(probs: np.ndarray, class_share: np.ndarray) -> dict[str, float]:
    """The classifier's verdict on a generated batch: ``recognisable`` and ``class_entropy``
    (see :func:`recognisability`), ``recognisable_capped`` (recognisable digits of each
    class counted up to that class's share of the real digits: 1 only for a batch that is
    all recognisable *and* drawn in the data's proportions) and ``top_class_share``."""
    probs = np.asarray(probs, dtype=np.float64)
    recognisable, entropy = recognisability(probs)
    labels = probs.argmax(axis=1)
    confident = np.bincount(labels[probs.max(axis=1) >= CONFIDENT], minlength=probs.shape[1])
    capped = np.minimum(confident, np.asarray(class_share) * len(probs)).sum() / len(probs)
    return {
        "recognisable": recognisable,
        "recognisable_capped": float(capped),
        "class_entropy": entropy,
        "top_class_share": float(np.bincount(labels, minlength=probs.shape[1]).max() / len(probs)),
    }


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of (n, d) features, in float64: the Gaussian the distance fits."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (rounding's
    tiny negative eigenvalues clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Fréchet (2-Wasserstein) distance between the Gaussians ``a`` and ``b`` = (mean, cov):
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^1/2).

    tr((S_a S_b)^1/2) is computed as the sum of the square roots of the eigenvalues of
    S_a^1/2 S_b S_a^1/2, a symmetric PSD matrix similar to S_a S_b: real eigenvalues, no
    imaginary parts to discard and no offset to add when a covariance is singular (a
    collapsed batch has a rank-deficient one), unlike the usual ``scipy.linalg.sqrtm`` of
    the non-symmetric product. Samples of one distribution score ~0 (not exactly: the
    estimates from finite samples differ); the score is biased upwards for small samples,
    so only distances from equal sample sizes compare (val: 1,000; test: 5,000)."""
    (mu_a, cov_a), (mu_b, cov_b) = a, b
    if not all(np.isfinite(m).all() for m in (mu_a, cov_a, mu_b, cov_b)):
        return math.nan  # a generator whose output went NaN: no distance, never chosen
    root_a = _psd_sqrt(cov_a)
    inner = root_a @ cov_b @ root_a
    trace_sqrt = np.sqrt(np.linalg.eigvalsh((inner + inner.T) / 2).clip(min=0)).sum()
    distance = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)
    return max(distance, 0.0)  # rounding can leave -1e-12 for identical statistics


def save_grid(images: np.ndarray, path: Path) -> None:
    """Square grid of (n, 784) images in [-1, 1] as a grey PNG, tiles framed in dark grey."""
    from matplotlib import image  # no pyplot: no GUI backend needed

    side = math.isqrt(len(images))
    tiles = np.clip((images[: side * side].reshape(side, side, 28, 28) + 1) / 2, 0, 1)
    tiles = np.pad(tiles, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=0.25)
    grid = tiles.transpose(0, 2, 1, 3).reshape(side * 30, side * 30)
    image.imsave(path, grid.repeat(2, 0).repeat(2, 1), cmap="gray", vmin=0, vmax=1)  # x2: viewers blur tiny images


# ------------------------------------------------------------------ the task


class GanTask:
    def __init__(self, cfg: GanConfig, data: dict[str, Any], session: Session):
        if session.world_size > 1:
            raise UserError(
                "gan: runs on one worker (G and D step apart, which DDP cannot synchronise); set workers: 1"
            )
        self.cfg, self.session = cfg, session
        self.device = session.device()
        self.real = scaled(data["train"]).to(self.device)
        self.classifier = load_classifier(data["classifier"]["state"], self.device)
        self.classifier_scores = {k: data["classifier"][k] for k in ("accuracy", "real_recognisable")}
        self.reference, self.class_share = data["reference"], data["class_share"]
        self.real_frechet_distance = data["real_frechet_distance"]
        self.noise = {
            split: torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
            for split, n, seed in (("val", VAL_SAMPLES, VAL_NOISE_SEED), ("test", TEST_SAMPLES, TEST_NOISE_SEED))
        }
        self.bce = nn.BCEWithLogitsLoss()
        self.epoch = 0

    def build_model(self) -> nn.Module:
        return gan(self.cfg.latent_dim, self.cfg.hidden)

    @staticmethod
    def _parts(model: nn.Module) -> nn.ModuleDict:
        """The model ``build_model`` made: G and D by name (one worker, so never wrapped)."""
        return cast(nn.ModuleDict, model)

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        return {
            name: torch.optim.Adam(
                self._parts(model)[name].parameters(), lr=lr, betas=(c.beta1, c.beta2), weight_decay=c.weight_decay
            )
            for name, lr in (("d", c.lr_d), ("g", c.lr_g))
        }

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def train_batches(self, epoch: int):
        """``report_every`` items, each ``d_steps`` real batches: (d_steps, batch, 784)."""
        c = self.cfg
        n, per_step = self.real.shape[0], c.d_steps * c.batch_size
        # Seeded by (seed, epoch) alone: a restored trial replays the same order.
        seed = int(np.random.SeedSequence([c.seed, epoch]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        need = c.report_every * per_step
        order = torch.cat([torch.randperm(n, generator=generator) for _ in range(math.ceil(need / n))])
        order = order[:need].view(c.report_every, c.d_steps, c.batch_size).to(self.device)
        for rows in order:
            yield self.real[rows]

    def manual_step(
        self, model: nn.Module, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        c = self.cfg
        g, d = self._parts(model)["g"], self._parts(model)["d"]
        d_losses = []
        for real in batch:
            with torch.no_grad():
                fake = g(torch.randn(real.shape[0], c.latent_dim, device=self.device))
            logits_real, logits_fake = d(real), d(fake)
            # summed, not averaged: 2 ln 2 ~ 1.39 at equilibrium, the scale of the report's plot
            loss = self.bce(logits_real, torch.full_like(logits_real, 1.0 - c.label_smoothing)) + self.bce(
                logits_fake, torch.zeros_like(logits_fake)
            )
            d_losses.append(backward_step(optimizers["d"], loss, d.parameters(), c.clip_grad_norm))
        logits = d(g(torch.randn(c.batch_size, c.latent_dim, device=self.device)))
        # non-saturating generator loss: ln 2 ~ 0.69 when D cannot tell
        g_loss = backward_step(
            optimizers["g"], self.bce(logits, torch.ones_like(logits)), g.parameters(), c.clip_grad_norm
        )
        return {"d_loss": sum(d_losses) / len(d_losses), "g_loss": g_loss}

    def score(self, images: torch.Tensor) -> dict[str, float]:
        """``frechet_distance`` to the held-out real digits and :func:`digit_scores`."""
        features, probs = [], []
        for chunk in images.split(EVAL_CHUNK):
            h, logits = self.classifier.features_and_logits(chunk)
            features.append(h.double().cpu())
            probs.append(logits.softmax(1).double().cpu())
        scores = {"frechet_distance": frechet_distance(feature_stats(torch.cat(features).numpy()), self.reference)}
        return {**scores, **digit_scores(torch.cat(probs).numpy(), self.class_share)}

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        fake = self._parts(model)["g"](self.noise[split])
        scores = self.score(fake)
        if split == "test":
            return {f"test_{k}": v for k, v in scores.items()}
        d = self._parts(model)["d"]
        iteration = self.epoch * self.cfg.report_every
        metrics = {
            "iteration": iteration,
            **scores,
            "d_accuracy_real": float((d(self.real[:D_PROBE]) > 0).float().mean()),
            "d_accuracy_fake": float((d(fake) < 0).float().mean()),
            # what the classifier makes of held-out real digits: the ceiling of ``recognisable``
            "classifier_accuracy": self.classifier_scores["accuracy"],
            "real_recognisable": self.classifier_scores["real_recognisable"],
            # 1,000 real training digits against the same reference: the floor of ``frechet_distance``
            "real_frechet_distance": self.real_frechet_distance,
        }
        folder = self.session.artifact_dir()
        if folder:
            path = Path(folder) / f"samples_iter_{iteration:05d}.png"
            save_grid(fake[: GRID * GRID].float().cpu().numpy(), path)
            metrics["sample_grid"] = str(path)
        return metrics


TRAINABLE = Trainable(
    GanConfig,
    GanTask,
    load_data,
    data_fields=("synthetic_size", "max_rows", "test_fraction", "data_seed", "classifier_steps"),
)
