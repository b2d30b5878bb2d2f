"""The Ray session: connecting to a cluster or starting a local Ray, fitting the sweep to
the cluster it gets, and the dashboards."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from typing import TYPE_CHECKING, Any, Optional

from . import ray_internals, secrets, settings, stopping, store
from .schema import is_remote

if TYPE_CHECKING:
    from .plan import SweepPlan

DASHBOARD_HOST, RAY_DASHBOARD_PORT = "127.0.0.1", 8265


def init_ray(
    address: Optional[str], num_cpus: Optional[int] = None, log_to_driver: bool = True, dashboard: bool = False
) -> Optional[str]:
    """Connect to ``address`` ($RAY_ADDRESS), else start a local Ray in this process.
    ``dashboard``: the local Ray runs its dashboard on 127.0.0.1; returns its URL."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # checkpoints every epoch keep Tune snapshotting often; that is the point, not a problem
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's saved experiment state is what a resume knows: a trial created after the last
    # save is unknown to it (the store drops it and the searcher suggests it again). Tune's
    # "auto" saves at most every 10 s; every second keeps that window small, for a few ms a save.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    # Tune's checkpoint manager keeps, for every checkpoint it lists, a copy of the whole result
    # reported with it (the validation predictions included), and each state save encodes them
    # all again, more with every epoch run. With no checkpoint score attribute set, this keeps
    # the checkpoints' paths and drops their copies (the results store holds every row; the
    # newest checkpoint's result is kept whole).
    os.environ.setdefault("TUNE_ONLY_STORE_CHECKPOINT_SCORE_ATTRIBUTE", "1")
    # Tune's CSV / JSON / TensorBoard loggers cost the driver ~15 ms a trial (a writer thread
    # and an fsync a result, and files in the staging folder Tune copies whole to storage at
    # every state save). The results store holds every row; recording.TensorBoardCallback
    # writes the event files. TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=0 brings Tune's back.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if not tune_loggers_on():
        # Tune's ResultGrid looks for the loggers' result.json at the end, and warns; nothing
        # of sweeplab reads it (the store is the record)
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    secrets.keep_out_of_ray()
    ray_internals.compact_run_metadata()
    if ray.is_initialized():
        return None
    if not address and os.environ.get("RAY_ADDRESS"):  # set by someone's profile or a `ray start` long ago
        print(
            f"note: running on the Ray at {os.environ['RAY_ADDRESS']} (from $RAY_ADDRESS, not --address): its "
            "trials share that cluster; unset RAY_ADDRESS to run on a Ray of this sweep's own"
        )
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {"address": address, "logging_level": "WARNING", "log_to_driver": log_to_driver}
    if address == "local":
        kwargs.update(num_cpus=num_cpus, include_dashboard=dashboard)
        from .ray_internals import AUTH_TOKEN_LOGGER

        logging.getLogger(AUTH_TOKEN_LOGGER).addFilter(_no_token_note)
        if dashboard:
            kwargs.update(dashboard_host=DASHBOARD_HOST, dashboard_port=RAY_DASHBOARD_PORT)
    try:
        context = ray.init(**kwargs)
    except SystemExit as e:  # Ray's own SIGTERM handler, while Ray starts: stop what it started, say so
        if e.code != signal.SIGTERM:
            raise
        if address == "local":
            stopping.kill_descendants()
        raise stopping.Terminated from None
    stopping.after_ray_started()
    url = getattr(context, "dashboard_url", None)
    return f"http://{url}" if url and "://" not in url else url


def _no_token_note(record: logging.LogRecord) -> bool:
    """Ray's note, at every local start, that token authentication is on by default. One
    function object, so that adding it at each start keeps one filter."""
    return "Token authentication is enabled" not in record.getMessage()


def tune_loggers_on() -> bool:
    """Whether Tune writes its own CSV / JSON / TensorBoard files (see init_ray)."""
    return os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS") != "1"


def fit_to_cluster(prep: SweepPlan) -> SweepPlan:
    """What only the running cluster can tell: whether the registry's GPU share applies (a
    cluster without GPUs runs the trials on CPU), and whether the storage reaches every node.
    The plan as it runs here."""
    import ray

    if prep.trial_plan and prep.trial_plan.gpus > 0 and prep.gpu_default and not ray.cluster_resources().get("GPU"):
        print(
            f"note: this Ray cluster has no GPU; trials run on CPU (the registry's {prep.trial_plan.gpus:g} GPU a "
            "trial applies where there are GPUs; --gpus-per-trial sets it)"
        )
        prep = dataclasses.replace(
            prep,
            trial_plan=dataclasses.replace(prep.trial_plan, gpus=0.0),
            resources=dataclasses.replace(prep.resources, gpu=0.0),
        )
    store.check_shared(prep.storage, sum(1 for n in ray.nodes() if n.get("Alive")))
    return prep


def start_ray(prep: SweepPlan) -> SweepPlan:
    """Ray for this sweep, fitted to it; with --dashboard, both dashboards and their URLs.
    The plan as it runs on this cluster (``fit_to_cluster``)."""
    opts = prep.options
    secrets.export(prep.secrets)  # before a local Ray starts: its workers inherit them
    url = init_ray(opts.address, opts.num_cpus, log_to_driver=opts.verbose >= 2, dashboard=opts.dashboard)
    prep = fit_to_cluster(prep)
    if opts.dashboard:
        from .dashboard.server import start_in_thread

        storage = prep.storage if not is_remote(prep.storage) else None
        if url:
            print(f"Ray dashboard: {url}")
        if storage:
            os.makedirs(storage, exist_ok=True)
            served = start_in_thread([storage], DASHBOARD_HOST, settings.get().dashboard_port)
            print(f"sweeplab dashboard: {served}sweep/{prep.name}")
        else:
            print(f"sweeplab dashboard: run `sweeplab dashboard` on a machine that mounts {prep.storage}")
    return prep
