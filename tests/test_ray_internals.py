"""Every private name of Ray that sweeplab uses (ray_internals.py) exists in the installed
Ray and is what sweeplab takes it for: a Ray upgrade that moves one fails here, not in a sweep."""

from __future__ import annotations

import importlib
import logging

import pytest

ray = pytest.importorskip("ray")

from sweeplab import ray_internals  # noqa: E402


def test_the_tuner_keeps_its_run_config_where_resume_reaches_for_it(tmp_path):
    from ray import tune

    tuner = tune.Tuner(lambda config: None, run_config=tune.RunConfig(storage_path=str(tmp_path), name="x"))
    assert ray_internals.restored_run_config(tuner).name == "x"


def test_tune_still_propagates_environment_variables_through_the_set_sweeplab_filters():
    from ray.tune.execution import class_cache

    before = class_cache.ENV_VARS_TO_PROPAGATE
    assert isinstance(before, (set, frozenset)) and all(isinstance(v, str) for v in before)
    try:
        class_cache.ENV_VARS_TO_PROPAGATE = frozenset(before | {"SWEEPLAB_TEST_SECRET"})
        ray_internals.drop_propagated_env(lambda name: "SECRET" in name)
        assert "SWEEPLAB_TEST_SECRET" not in class_cache.ENV_VARS_TO_PROPAGATE
    finally:
        class_cache.ENV_VARS_TO_PROPAGATE = before


def test_the_driver_node_the_report_session_and_the_logger_names_exist():
    import ray._private.worker as worker

    assert hasattr(worker, "_global_node") and ray_internals.local_node() is worker._global_node
    from ray.train._internal import session

    assert ray_internals.report_session() is session.get_session()
    for name in (*ray_internals.CHECKPOINT_LOGGERS, ray_internals.AUTH_TOKEN_LOGGER):
        importlib.import_module(name)  # a logger named after a module that is gone would silence nothing
        assert name in logging.Logger.manager.loggerDict or logging.getLogger(name)


def test_schedulers_and_searchers_keep_the_attributes_sweeplab_reads():
    from ray.tune.schedulers import MedianStoppingRule, TrialScheduler
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from sweeplab.search.promotion import PromotionASHA

    assert hasattr(TrialScheduler, ray_internals.BUFFERED_RESULTS)
    assert getattr(PromotionASHA, ray_internals.BUFFERED_RESULTS) is False
    rule = MedianStoppingRule()
    rule._stopped_trials.add("t")
    ray_internals.forget_stopped(rule, "t")
    assert rule._stopped_trials == set()
    assert ray_internals.generator_live_trials(BasicVariantGenerator(max_concurrent=2)) == set()
    searcher = OptunaSearch(space={"x": ray.tune.uniform(0, 1)}, metric="m", mode="max")
    limiter = ConcurrencyLimiter(searcher, max_concurrent=2)
    ray_internals.limiter_count_live(limiter, "a")
    assert ray_internals.limiter_live_trials(limiter) == {"a"} and limiter.num_unfinished_live_trials == 1
    assert searcher.suggest("a") is not None
    assert set(ray_internals.optuna_trials(searcher)) == {"a"}
    assert ray_internals.optuna_study(searcher).trials[0].params.keys() == {"x"}
    assert set(ray_internals.optuna_space(searcher)) == {"x"}


def test_the_wandb_callback_still_starts_its_actor_where_sweeplab_overrides_it():
    from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

    assert callable(getattr(WandbLoggerCallback, "_start_logging_actor", None))
    assert issubclass(ray_internals.KeyedLoggingActor, _WandbLoggingActor)
    callback = ray_internals.KeyedWandbLoggerCallback(project="p", mode="offline")
    assert callback._remote_logger_class is None and callback._logger_actor_cls is _WandbLoggingActor


def test_a_trials_run_metadata_saves_as_compact_json_that_tune_reads_back_the_same():
    """Tune re-encodes a trial's run metadata at each state save; sweeplab makes it unindented
    (the C encoder) and a restored trial must read the same metadata back."""
    from ray.tune.trainable.metadata import _TrainingRunMetadata

    ray_internals.compact_run_metadata()
    meta = _TrainingRunMetadata()
    for epoch, loss in enumerate([0.5, 0.4, 0.3], start=1):
        meta.last_result = {"epoch": epoch, "val_mse": loss, "val_predictions": "[0.1, 0.2]"}
        meta.update_metric("val_mse", loss, step=epoch)
    first = meta.get_json_state()
    assert "\n" not in first  # unindented: json's C encoder
    back = _TrainingRunMetadata.from_json_state(first)
    assert back.last_result == meta.last_result
    assert back.metric_analysis == meta.metric_analysis
    assert list(back.metric_n_steps["val_mse"]["5"]) == [0.5, 0.4, 0.3]
    assert back.metric_n_steps["val_mse"]["5"].maxlen == 5  # a deque still, as Tune's own save keeps it
    meta.last_result = {"epoch": 4, "val_mse": 0.2}  # a new result: the cached state is encoded again
    assert _TrainingRunMetadata.from_json_state(meta.get_json_state()).last_result["epoch"] == 4
