"""The one table of experiments. Entries name code by dotted path, so listing them
imports nothing heavier than this module (no torch, no transformers)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from .errors import UserError

if TYPE_CHECKING:
    from .trainables import Trainable


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0
    workers: int = 1  # >1: the trial drives a TorchTrainer with this many DDP workers


TIMES = ("epoch_seconds", "train_seconds")  # the engine reports these for every trainable


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str
    report: str  # which report in shared/reports/ it reproduces
    module: str  # dotted path of the trainable module, which defines TRAINABLE (trainables/__init__.py)
    space: str  # default search-space file in search_spaces/
    metric: str
    mode: Literal["min", "max"]
    resources: Resources = Resources()
    # Besides ``metric``, what a trial reports every epoch that a space's metric may name (the
    # held-out test_* ones come only with a new best epoch, and never choose anything).
    metrics: tuple[str, ...] = ()
    smoke: dict[str, Any] = field(default_factory=dict)  # numbers only: same code path
    # What analysis puts in the report's comparison table and reasons with:
    label: Callable[[dict], str] = lambda config: "trial"  # the model column: "GRU", "LSTM"...
    table: tuple[str, ...] = ()  # config keys shown beside each trial
    table_metrics: tuple[str, ...] = ()  # metrics shown beside them (after the sweep's)
    capacity: tuple[str, ...] = ()  # config keys whose product sizes the model (bools count x2)
    trivial: Optional[Literal["majority", "zero"]] = None  # the baseline that learns nothing
    # Why no configuration beats the trivial predictor, when none does: analysis's conclusions
    # add it (English; Spanish for --lang es, else the English again).
    diagnosis: Optional[str] = None
    diagnosis_es: Optional[str] = None

    @property
    def reports(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.metric, *self.metrics, *TIMES)))

    def load(self) -> Trainable:
        """The trainable module's ``TRAINABLE``; imports torch."""
        from .trainables import load

        return load(self.module)


# data/signals.py: each sample of each sinusoid has its own phase, U(0, phase_noise); the
# target is the clean sine. `sweeplab tune freq_noise` measures what each amount of phase
# noise allows (docs/models.md).
FREQ_DIAGNOSIS = (
    "Why: with the assignment's noise (phase_noise 2π, the default) each sample's phase is drawn "
    "uniformly over the whole circle, so the mixed signal carries no information about the target "
    "and the best predictor of the target from it is zero (MSE 0.5, the mean of sin² over whole "
    "periods). An MSE below 0.01 became reachable only with about 3 rad of phase noise or less "
    "(test MSE 0.0091 at 3 rad, 0.149 at 4 rad, training 1000 epochs): `sweeplab tune freq_noise` "
    "runs that grid.",
    "Por qué: con el ruido de la consigna (phase_noise 2π, el valor por defecto) la fase de cada muestra "
    "se sortea uniforme en todo el círculo, así que la señal mezclada no lleva información sobre el "
    "objetivo y su mejor predicción a partir de ella es cero (MSE 0.5, la media de sin² en períodos "
    "completos). Un MSE menor que 0.01 solo se alcanzó con unos 3 rad de ruido de fase o menos "
    "(MSE de test 0.0091 con 3 rad, 0.149 con 4 rad, entrenando 1000 épocas): `sweeplab tune "
    "freq_noise` recorre esa grilla.",
)

EXPERIMENTS: dict[str, Experiment] = {
    e.id: e
    for e in [
        Experiment(
            id="freq",
            title="LSTM extracting one frequency from a mixed noisy signal",
            report="004",
            module="sweeplab.trainables.freq",
            space="freq.yaml",
            metric="val_mse",
            mode="min",
            resources=Resources(cpu=1, gpu=0.25),  # where there are GPUs: four trials share one
            metrics=("train_loss",),
            smoke={"epochs": 2, "duration": 1.0},
            label=lambda c: "LSTM",
            table=("hidden_size", "num_layers", "seq_length", "lr", "epochs"),
            table_metrics=("val_mse",),
            capacity=("hidden_size", "num_layers"),
            trivial="zero",
            diagnosis=FREQ_DIAGNOSIS[0],
            diagnosis_es=FREQ_DIAGNOSIS[1],
        ),
        Experiment(
            id="seqclf",
            title="GRU / LSTM heartbeat classifier (MIT-BIH format)",
            report="000",
            module="sweeplab.trainables.seqclf",
            space="seqclf_gru.yaml",
            metric="val_macro_f1",
            mode="max",
            resources=Resources(cpu=1, gpu=0.25),  # where there are GPUs: four trials share one
            metrics=(
                "val_accuracy",
                "val_weighted_f1",
                "val_loss",
                *(f"val_recall_{c}" for c in "NSVFQ"),
                "train_loss",
            ),
            smoke={"epochs": 2, "synthetic_size": 300, "max_rows": 300},
            label=lambda c: str(c.get("cell", "gru")).upper(),
            table=("hidden_dim", "n_layers", "bidirectional", "lr"),
            table_metrics=("val_accuracy", "val_macro_f1"),
            capacity=("hidden_dim", "n_layers", "bidirectional"),
            trivial="majority",
        ),
        Experiment(
            id="imdb",
            title="Embedding + LSTM sentiment classifier (aclImdb / CSV)",
            report="001",
            module="sweeplab.trainables.imdb",
            space="imdb.yaml",
            metric="val_accuracy",
            mode="max",
            resources=Resources(cpu=1, gpu=0.25),  # where there are GPUs: four trials share one
            metrics=(
                "val_macro_f1",
                "val_weighted_f1",
                "val_loss",
                "val_recall_neg",
                "val_recall_pos",
                "train_accuracy",
                "train_loss",
            ),
            smoke={"epochs": 2, "synthetic_size": 300, "max_rows": 300},
            label=lambda c: "BiLSTM" if c.get("bidirectional") else "LSTM",
            table=("embedding_dim", "units", "dropout", "recurrent_dropout", "lr"),
            table_metrics=("val_accuracy", "val_loss"),
            capacity=("embedding_dim", "units", "bidirectional"),
            trivial="majority",
        ),
        Experiment(
            id="gan",
            title="MLP GAN on MNIST digits, scored by a digit classifier",
            report="001",
            module="sweeplab.trainables.gan",
            space="gan.yaml",
            metric="frechet_distance",  # not "recognisable": a collapsed generator maximises that (issue 16)
            mode="min",
            resources=Resources(cpu=1, gpu=0.25),  # where there are GPUs: four trials share one
            metrics=(
                "recognisable",
                "recognisable_capped",
                "class_entropy",
                "top_class_share",
                "d_accuracy_real",
                "d_accuracy_fake",
                "train_g_loss",
                "train_d_loss",
            ),
            smoke={"epochs": 2, "report_every": 5, "synthetic_size": 500, "max_rows": 500, "classifier_steps": 30},
            label=lambda c: "GAN",
            table=("hidden", "latent_dim", "lr_g", "lr_d", "batch_size"),
            table_metrics=("frechet_distance", "recognisable", "class_entropy"),
            capacity=("hidden",),
        ),
        Experiment(
            id="seq2seq",
            title="LSTM/GRU encoder-decoder with or without attention (generated tasks, parallel text)",
            report="003",
            module="sweeplab.trainables.seq2seq",
            space="seq2seq.yaml",
            metric="val_bleu",
            mode="max",
            resources=Resources(cpu=1, gpu=0.25),  # where there are GPUs: four trials share one
            metrics=("val_perplexity", "val_edit_distance", "val_exact_match", "val_loss", "train_loss"),
            smoke={
                "epochs": 2,
                "train_size": 200,
                "val_size": 50,
                "test_size": 50,
                "max_rows": 300,
                "eval_examples": 50,
            },
            label=lambda c: (
                f"{str(c.get('cell', 'lstm')).upper()}"
                + ("" if c.get("attention", "none") == "none" else f" + {c['attention']} attention")
            ),
            table=("attention", "hidden_size", "layers", "teacher_forcing", "lr"),
            table_metrics=("val_bleu", "val_perplexity", "val_edit_distance"),
            capacity=("hidden_size", "layers"),
        ),
        Experiment(
            id="videomae",
            title="VideoMAE fine-tuning on WLASL100 / WLASL300 sign-language videos",
            report="002",
            module="sweeplab.trainables.videomae",
            space="videomae_wlasl100.yaml",
            metric="val_accuracy",
            mode="max",
            resources=Resources(cpu=1, gpu=1),  # one GPU a trial (base model, bf16); none there: CPU
            metrics=(
                "val_top5_accuracy",
                "val_macro_f1",
                "val_weighted_f1",
                "val_macro_precision",
                "val_macro_recall",
                "val_weighted_precision",
                "val_weighted_recall",
                "val_loss",
                "train_accuracy",
                "train_loss",
            ),
            smoke={
                "epochs": 2,
                "model_size": "tiny",
                "num_frames": 4,
                "image_size": 32,
                "synthetic_size": 40,
                "synthetic_classes": 4,
                "max_rows": 40,
            },
            label=lambda c: (
                "VideoMAE" + ("" if c.get("pretrained") else f"-{c.get('model_size', 'base')} (random init)")
            ),
            table=("lr", "batch_size", "weight_decay", "label_smoothing", "epochs"),
            table_metrics=("val_accuracy", "val_top5_accuracy", "val_macro_f1"),
            trivial="majority",
        ),
    ]
}


def table_declaration(experiment_id: Optional[str]) -> Optional[dict[str, Any]]:
    """What analysis shows and reasons with for an experiment (config keys, metrics,
    capacity keys, trivial baseline), as sweep.json records it; None for a user trainable."""
    exp = EXPERIMENTS.get(experiment_id or "")
    if exp is None:
        return None
    return {
        "table": list(exp.table),
        "table_metrics": list(exp.table_metrics),
        "capacity": list(exp.capacity),
        "trivial": exp.trivial,
    }


def as_recorded(exp: Experiment, declaration: Any) -> Experiment:
    """``exp`` with what a sweep recorded of its table (``table_declaration``), so a sweep
    reads as it ran after the registry changed; a sweep that recorded none: ``exp``."""
    if not isinstance(declaration, dict):
        return exp

    def listed(key: str, own: tuple[str, ...]) -> tuple[str, ...]:
        value = declaration.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else own

    trivial = declaration.get("trivial") if declaration.get("trivial") in ("majority", "zero", None) else exp.trivial
    return dataclasses.replace(
        exp,
        table=listed("table", exp.table),
        table_metrics=listed("table_metrics", exp.table_metrics),
        capacity=listed("capacity", exp.capacity),
        trivial=trivial,
    )


def get(experiment_id: str) -> Experiment:
    try:
        return EXPERIMENTS[experiment_id]
    except KeyError:
        raise UserError(f"unknown experiment '{experiment_id}'; known: {', '.join(sorted(EXPERIMENTS))}") from None
