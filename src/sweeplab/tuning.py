"""The Tuner, run and resume: everything between a prepared sweep (plan.py) and Ray Tune,
on the Ray session session.py starts. ``run`` tunes; ``resume`` continues a stopped sweep."""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
from typing import Any, Optional

from . import faults, files, secrets, stopping, store
from .storage_checks import check_ray_state, storage_failure
from .errors import UserError
from .schema import ENDED, Status, absolute, is_remote
from .lock import SweepLock
from .analysis.summary import summarize, without_checkpoint
from .plan import SweepPlan, default_concurrency, prepare, record_of, shared_data
from . import record
from .trial_plan import load_user_trainable
from .search.factories import make_scheduler, make_searcher
from .session import tune_loggers_on, start_ray


# ------------------------------------------------------------------ running


def _wandb_callback(prep: SweepPlan):
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise UserError("--wandb needs the wandb package: pip install 'sweeplab[wandb]'") from None
    # offline unless the user gave a key (or WANDB_MODE): nothing leaves the machine by accident
    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    # W&B's files go straight into the sweep folder where it is local (a trial folder is
    # synced before W&B has finished writing); elsewhere they stay beside each trial
    folder = os.environ.get("WANDB_DIR") or (prep.uri if not is_remote(prep.uri) else None)
    if folder:
        os.makedirs(folder, exist_ok=True)
    from .ray_internals import KeyedWandbLoggerCallback

    init: dict[str, Any] = {"mode": mode, **({"dir": folder} if folder else {})}  # handed on to wandb.init
    return KeyedWandbLoggerCallback(project=f"sweeplab-{prep.spec.experiment or 'custom'}", group=prep.name, **init)


def build_trainable(prep: SweepPlan, shared: Any) -> Any:
    from ray import tune

    from .runner import checked_reports, make_trainable, skip_finished

    if prep.trial_plan:
        return make_trainable(prep.trial_plan, shared, prep.finished)  # registry configs hold no secret-named fields
    res = {"cpu": prep.resources.cpu, "gpu": prep.resources.gpu}
    assert prep.user_trainable  # a plan has a registry experiment's trial plan or a user's trainable
    user = checked_reports(
        skip_finished(load_user_trainable(prep.user_trainable), prep.metric, prep.finished), prep.metric
    )
    return tune.with_resources(secrets.guarded(user, prep.secrets), res)


def recorder_for(prep: SweepPlan) -> store.SweepRecorder:
    return store.SweepRecorder(prep.uri, record_of(prep), prep.metric, prep.mode, prep.spec.preset_configs())


def _callbacks(prep: SweepPlan, recorder: Optional[store.SweepRecorder] = None) -> list:
    recorder = recorder or recorder_for(prep)
    from .recording import CheckpointPruner, KillCallback, StoreCallback, TensorBoardCallback

    kills = faults.driver_kills(prep.faults)
    kill = KillCallback(kills, prep.num_samples) if kills else None
    # PBT exploits other trials' checkpoints at any time: it keeps them all
    prune = prep.scheduler.name != "pbt"
    tensorboard = [] if tune_loggers_on() else [TensorBoardCallback(list(prep.spec.parameters))]
    return [
        StoreCallback(recorder, prep.known),
        *_progress(prep, recorder),
        *tensorboard,
        *([CheckpointPruner()] if prune else []),
        *([_wandb_callback(prep)] if prep.options.wandb else []),
        *([kill] if kill else []),
    ]


def _progress(prep: SweepPlan, recorder: store.SweepRecorder) -> list:
    """sweeplab's progress display (verbose 1, the default); Ray's tables are verbose 2."""
    if prep.options.verbose != 1:
        return []
    from .progress import Display, Progress
    from .recording import ProgressCallback

    total = prep.spec.trials_expected(prep.num_samples)
    return [
        ProgressCallback(
            recorder,
            Display(
                Progress(
                    prep.metric,
                    prep.mode,
                    total=total,
                    epoch_budget=prep.epochs_to_spend,
                    time_budget=prep.time_budget,
                    max_t=prep.spec.max_epochs(),
                )
            ),
        )
    ]


def epoch_budget_stopper(budget: int, sweep_uri: str, metric: str, mode: str):
    """--epoch-budget: a Tune stopper (recording.EpochBudget)."""
    from .recording import EpochBudget

    return EpochBudget(budget, sweep_uri, metric, mode)


def _budget_stopper(prep: SweepPlan):
    budget = prep.options.epoch_budget
    return epoch_budget_stopper(int(budget), prep.uri, prep.metric, prep.mode) if budget else None


def tuner_for(
    prep: SweepPlan,
    shared: Any,
    restore: bool = False,
    resume_errored: bool = False,
    recorder: Optional[store.SweepRecorder] = None,
):
    """``recorder``: the results store as already read (on resume), else one made here."""
    from ray import tune

    trainable = build_trainable(prep, shared)
    if prep.options.verbose < 2:  # Ray's new output engine prints its header even when silent
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    failures = tune.FailureConfig(max_failures=prep.options.max_failures)
    if restore:
        tuner = tune.Tuner.restore(prep.uri, trainable=trainable, resume_errored=resume_errored, restart_errored=False)
        # Tune restores the callbacks pickled at the start, which point at the folder's old
        # location; record into the folder being resumed instead.
        from . import ray_internals

        run_config = ray_internals.restored_run_config(tuner)
        run_config.callbacks, run_config.failure_config = _callbacks(prep, recorder), failures
        return tuner
    max_concurrent = prep.max_concurrent or default_concurrency(prep)
    max_t = prep.spec.max_epochs()
    budget = prep.search_budget
    return tune.Tuner(
        trainable,
        param_space=prep.spec.param_space(),
        tune_config=tune.TuneConfig(
            metric=prep.metric,
            mode=prep.mode,
            scheduler=make_scheduler(
                prep.scheduler,
                max_t,
                prep.spec,
                prep.seed,
                store_uri=prep.uri,
                max_concurrent=max_concurrent,
                budget=prep.epochs_to_spend,
                time_budget=prep.time_budget,
            ),
            search_alg=make_searcher(
                prep.search,
                prep.spec,
                prep.seed,
                max_concurrent,
                prep.num_samples,
                scheduler=prep.scheduler,
                budget=budget,
                prior=prep.prior,
                known=tuple(
                    ({k: kn.params[k] for k in prep.spec.parameters}, kn.scores(prep.metric)) for kn in prep.known
                ),
            ),
            # with an epoch budget the searcher decides when no config is left to try
            num_samples=-1 if budget else prep.num_samples,
            # make_searcher sets the limit (the random/grid generator takes it itself)
            max_concurrent_trials=None,
            reuse_actors=True,
            time_budget_s=prep.time_budget,
            trial_dirname_creator=lambda t: f"trial_{t.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=prep.name,
            storage_path=prep.storage,
            callbacks=_callbacks(prep, recorder),
            # Tune keeps every checkpoint; recording.CheckpointPruner deletes old ones when safe
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            failure_config=failures,
            stop=_budget_stopper(prep),
            sync_config=tune.SyncConfig(sync_artifacts=True),  # files trials keep (GAN grids)
            verbose=1 if prep.options.verbose >= 2 else 0,  # Ray's tables with -v only
        ),
    )


def run(prep: SweepPlan) -> int:
    """Tune; print where the results are and the best config. 0 ok, 1 every trial failed."""
    shared = shared_data(prep)  # before Ray starts, so a bad data path fails fast
    lock = SweepLock(prep.uri, f"sweeplab tune {prep.name}")
    lock.create_folder()  # atomic: a twin `tune --name same` started at the same time is refused
    try:
        with lock.acquire():
            return _run(prep, shared)
    finally:
        lock.remove_if_empty()  # nothing started (Ray refused, Ctrl-C at once): no empty sweep left


def _run(prep: SweepPlan, shared) -> int:
    prep = start_ray(prep)
    try:
        tuner = tuner_for(prep, shared)
        # resume reads it; a secret in it comes back from the environment (secrets.restored)
        files.write_bytes(store.join(prep.uri, "space.yaml"), secrets.redact(prep.spec.text, prep.secrets).encode())
        started = time.monotonic()
        results, stopped_by = stopping.fit(tuner.fit, prep.uri)
        if stopped_by is None and prep.time_budget and time.monotonic() - started >= prep.time_budget:
            stopped_by = TIME_BUDGET
    except OSError as e:
        storage_failure(prep.storage, prep.uri, error=e)  # a full or read-only disk: one line, the sweep marked failed
        raise
    storage_failure(prep.storage, prep.uri, results=results)  # trials that died of it
    # drop the Tuner (and its callbacks) while the interpreter is whole: W&B's callback
    # cleans up in __del__ and fails noisily at exit otherwise
    del tuner
    gc.collect()
    return _ended(prep, stopped_by)


TIME_BUDGET = -1  # _ended's "stopped by": the sweep's time budget ran out


def _ended(prep: SweepPlan, stopped_by: Optional[int]) -> int:
    """The summary; after Ctrl-C or SIGTERM, how to go on, and exit 130 / 143."""
    if stopped_by == TIME_BUDGET:  # ended as planned: what it cut off is not "interrupted", and no resume reruns it
        store.relabel(prep.uri, Status.INTERRUPTED, Status.TIME_UP)
    code = summarize(prep.uri, prep.metric, prep.mode)
    if any(without_checkpoint(prep.uri)):  # sweep.json says the trainable saves none (what promotion did about it)
        record.update(prep.uri, saves_no_checkpoint=True)
    if stopped_by is None:  # Tune ran out of trials to run: a resume has nothing to do
        record.update(prep.uri, ended=record.now())
        return code
    if stopped_by == TIME_BUDGET:  # Tune counts it over every run of the sweep: resume would train nothing
        record.update(prep.uri, time_budget_spent=record.now())
        print(
            f"the sweep's time budget ({prep.time_budget:g} s, --time-budget or the space's time_budget) ended it, "
            "as planned: trials running then were cut off (TIME_UP), those paused at a rung stay paused"
        )
        return code
    print(f"stopped ({stopping.NAMES[stopped_by]}); resume with: sweeplab resume {prep.uri}")
    return stopping.EXIT[stopped_by]


def resume(sweep_dir: str, retry_errored: bool = False) -> int:
    """Continue a sweep stopped by Ctrl-C or a kill: finished trials stay finished, the
    searcher's state is Tune's own (saved in the experiment folder)."""
    uri = absolute(sweep_dir)
    if not record.exists(uri):
        raise UserError(f"{sweep_dir}: no {record.SWEEP_JSON} here; not a sweeplab sweep folder")
    lock = SweepLock(uri, f"sweeplab resume {sweep_dir}")
    lock.refuse_if_held()  # a live sweep is not resumed twice
    return _resume(uri, sweep_dir, retry_errored, lock)


def _nothing_to_resume(
    rec: record.SweepRecord, recorder: store.SweepRecorder, retry_errored: bool, sweep_dir: str
) -> bool:
    """A sweep that ran to its end, every trial finished (or errored, without
    --retry-errored): said in one line, and Ray is not started."""
    if rec.time_budget_spent:
        budget = rec.time_budget_s or 0
        print(
            f"{sweep_dir}: the sweep's time budget ({budget:g} s) ended it ({rec.time_budget_spent}) and Tune "
            "counts it over every run of the sweep, so a resume would train nothing; to go on, start a new sweep "
            "(--time-budget sets its budget)"
        )
        return True
    statuses = [row.get("status") for row in recorder.trials.values()]
    errored = statuses.count(Status.ERROR)
    if not rec.ended or any(s not in ENDED for s in statuses) or (retry_errored and errored):
        return False
    more = f", {errored} errored (--retry-errored reruns them)" if errored else ""
    print(
        f"{sweep_dir}: the sweep ran to its end ({statuses.count(Status.TERMINATED)} trials finished{more}); nothing to resume"
    )
    return True


def _stored_space(uri: str) -> str:
    """The space file the sweep stored (from any working directory): the file itself on a
    local path; a local copy of it on URI storage (the space loader reads local files)."""
    if not is_remote(uri):
        return store.join(uri, "space.yaml")
    import tempfile

    try:
        text = store.read_bytes(store.join(uri, "space.yaml"))
    except OSError as e:
        raise UserError(f"{store.join(uri, 'space.yaml')}: cannot read the sweep's space file ({e})") from None
    folder = tempfile.mkdtemp(prefix="sweeplab-space-")
    path = os.path.join(folder, "space.yaml")
    with open(path, "wb") as f:
        f.write(text)
    return path


def _resume(uri: str, sweep_dir: str, retry_errored: bool, lock: SweepLock) -> int:
    if not store.exists(store.join(uri, "tuner.pkl")):
        raise UserError(f"{sweep_dir}: Ray's experiment state (tuner.pkl) is missing; cannot resume")
    rec = record.read(uri)
    if rec.options is None or (rec.experiment is None and rec.options.trainable is None):
        what = "options" if rec.options is None else "experiment"
        raise store.CorruptStore(record.path(uri), f"no '{what}': not what sweeplab tune writes")
    options = dataclasses.replace(
        rec.options,
        target=rec.experiment if not rec.options.trainable else None,
        space=_stored_space(uri),
        name=uri.rstrip("/").rsplit("/", 1)[-1],
        storage=uri.rstrip("/").rsplit("/", 1)[0],
    )
    prep = prepare(options, fresh=False)  # its storage checks come before the lock is written
    check_ray_state(uri)  # after prepare, which says first when the sweep was marked FAILED
    prep = dataclasses.replace(prep, secrets=secrets.restored(prep.secrets))
    with lock.acquire():
        recorder = recorder_for(prep)
        recorder.load()  # read once: here, and by the store callback it is handed to
        if _nothing_to_resume(rec, recorder, retry_errored, sweep_dir):
            return 0
        if rec.ended:  # it runs again: ended only once this run ends
            record.update(uri, ended=None)
        # what the store saw finish (its journal included), which Tune's saved state may predate
        rows = {t: recorder.trials[t] for t in recorder.finished()}
        prep = dataclasses.replace(
            prep,
            finished=tuple(
                (t, float(row[prep.metric]), tuple(store.config_of(row).items()))
                for t, row in rows.items()
                if isinstance(row.get(prep.metric), (int, float)) and not math.isnan(row[prep.metric])
            ),
        )
        shared = shared_data(prep)
        prep = start_ray(prep)
        tuner = tuner_for(prep, shared, restore=True, resume_errored=retry_errored, recorder=recorder)
        _, stopped_by = stopping.fit(tuner.fit, prep.uri)
        del tuner
        gc.collect()
    return _ended(prep, stopped_by)
