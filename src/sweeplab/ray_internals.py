"""Every place sweeplab reaches into Ray's (and Ray's Optuna searcher's) private parts, in
one module: Ray offers no public way to do these things. tests/test_ray_internals.py checks
each name against the installed Ray, so an upgrade that moves one breaks a test, not a sweep.

Imported where Ray already is (the driver, a trial); it imports Ray itself."""

from __future__ import annotations

import os
from typing import Any, Callable, cast

import ray
from ray.air.integrations.wandb import WandbLoggerCallback, _force_on_current_node, _WandbLoggingActor

# ------------------------------------------------------------------ the Tuner


def restored_run_config(tuner: Any) -> Any:
    """A restored Tuner's RunConfig, to hand it this run's callbacks (ray#41364, open)."""
    return tuner._local_tuner.get_run_config()


def compact_run_metadata() -> None:
    """Tune encodes each trial's run metadata (its last result, running statistics of every
    metric, its checkpoints) again after every result, at each experiment-state save (every
    second here), as JSON indented by 2: the pure-Python encoder, ~25 ms a trial a save of the
    driver's CPU on this machine, taken from the trials it runs beside. Unindented JSON goes
    through the C encoder and reads back the same (Tune's reader is json.loads)."""
    import json

    from ray.tune.trainable.metadata import _TrainingRunMetadata
    from ray.tune.utils.serialization import TuneFunctionEncoder

    def get_json_state(self: Any) -> str:
        if self._cached_json is None:
            data = self.__dict__
            data.pop("_cached_json", None)
            self._cached_json = json.dumps(data, cls=TuneFunctionEncoder)
        return self._cached_json

    setattr(_TrainingRunMetadata, "get_json_state", get_json_state)  # noqa: B010  (mypy: a method is not assignable)


# ------------------------------------------------------------------ environment and processes


def drop_propagated_env(drop: Callable[[str], bool]) -> None:
    """Tune copies some of the driver's environment variables (AWS credentials) into every
    trainable's runtime environment, which Ray's agent logs; leave out those ``drop`` names."""
    from ray.tune.execution import class_cache

    class_cache.ENV_VARS_TO_PROPAGATE = {v for v in class_cache.ENV_VARS_TO_PROPAGATE if not drop(v)}


def local_node() -> Any:
    """The Ray node this driver started (its processes), None where it joined a cluster."""
    import ray._private.worker as worker

    return worker._global_node


def report_session() -> Any:
    """The trial's Train session, which every way to report goes through (ray.tune.report,
    ray.train.report, however imported)."""
    from ray.train._internal.session import get_session

    return get_session()


CHECKPOINT_LOGGERS = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")
AUTH_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"

# ------------------------------------------------------------------ schedulers and searchers

BUFFERED_RESULTS = "_supports_buffered_results"  # a TrialScheduler's: may Tune batch results past a milestone?


def forget_stopped(rule: Any, trial: Any) -> None:
    """MedianStoppingRule remembers a trial it stopped and asserts it never reports again;
    take the decision back (a preset, which runs on)."""
    rule._stopped_trials.discard(trial)


def generator_live_trials(generator: Any) -> set:
    """The trial ids a BasicVariantGenerator counts against its own max_concurrent."""
    return generator._live_trials


def limiter_count_live(limiter: Any, trial_id: str) -> None:
    """Count ``trial_id`` as live in a ConcurrencyLimiter, as its own ``suggest`` does."""
    limiter.live_trials.add(trial_id)
    limiter.num_unfinished_live_trials += 1


def limiter_live_trials(limiter: Any) -> set:
    return limiter.live_trials


def optuna_study(searcher: Any) -> Any:
    """OptunaSearch's study (to enqueue or tell trials outside its suggest)."""
    return searcher._ot_study


def optuna_trials(searcher: Any) -> dict:
    """OptunaSearch's trials by Tune trial id."""
    return searcher._ot_trials


def optuna_space(searcher: Any) -> Any:
    """OptunaSearch's space, as Optuna distributions by name."""
    return searcher._space


# ------------------------------------------------------------------ W&B


class KeyedLoggingActor(_WandbLoggingActor):
    """Ray's W&B logging actor, given the API key as an argument (not its environment)."""

    def __init__(self, *args: Any, api_key: str | None = None, **kwargs: Any):
        if api_key:
            os.environ["WANDB_API_KEY"] = api_key
        super().__init__(*args, **kwargs)


class KeyedWandbLoggerCallback(WandbLoggerCallback):
    """Ray's W&B callback hands WANDB_API_KEY to its logging actors through a runtime
    environment, which Ray's runtime-env agent writes to its log in plain text (mode 644).
    This one hands the actor the key as an argument instead (in Ray's own store; never a log
    line)."""

    def _start_logging_actor(self, trial: Any, exclude_results: Any, **wandb_init_kwargs: Any) -> None:
        if not self._remote_logger_class:
            placement = cast(dict, _force_on_current_node())  # Ray types it as what it decorates
            remote = ray.remote(num_cpus=0, **placement, max_restarts=-1, max_task_retries=-1)(KeyedLoggingActor)
            self._remote_logger_class = remote  # type: ignore[assignment]  # Ray declares it None, then sets an actor class
        key = os.environ.get("WANDB_API_KEY")
        super()._start_logging_actor(trial, exclude_results, **({"api_key": key} if key else {}), **wandb_init_kwargs)
