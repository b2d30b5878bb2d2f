"""What the dashboard serves, as plain JSON-ready dicts: the sweeps found under the folders
it was given, and per sweep its summary, trials (with observations), curves and one trial's
history. Built by the analysis package from the store's files, cached until they change,
so a sweep that is still running shows its new rows on the next request."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional


import pyarrow.fs as pafs

from .. import files, store
from ..analysis import conclude, load, observe, select, tables
from . import insight
from .front_view import front_view
from .insight import jsonable as _json
from ..errors import UserError
from ..schema import ENDED, STATUS, TRIAL_ID, Status, is_remote

log = logging.getLogger(__name__)
STALE_AFTER_S = 600  # a sweep with running trials but no write for this long lost its driver


VIEWS = {
    "decisions": insight.decisions,
    "importance": insight.importance,
    "parallel": insight.parallel,
    "best_so_far": insight.best_so_far,
    "front": front_view,
}


class NotFound(KeyError):
    """No such sweep or trial (a KeyError from analysis is a bug, not a 404)."""


class Catalog:
    """The sweeps under ``roots`` (sweep folders or folders holding sweeps), found again on
    every listing so a sweep started after the dashboard shows up."""

    def __init__(self, roots: list[str]):
        self.roots = [r.rstrip("/") if is_remote(r) else os.path.abspath(r) for r in roots]
        for root in self.roots:
            if not _is_folder(root):
                raise UserError(f"{root}: no such folder")
        self._paths: dict[str, str] = {}
        self._cache: dict[str, tuple[tuple, Any]] = {}

    def scan(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for root in self.roots:
            candidates = [root] if _has_store(root) else [d for d in _folders(root) if _has_store(d)]
            for path in candidates:
                name = os.path.basename(path.rstrip("/")) or "sweep"
                key, n = name, 2
                while key in found and found[key] != path:
                    key, n = f"{name}-{n}", n + 1
                found[key] = path
        self._paths = found
        return found

    def path(self, sweep_id: str) -> str:
        if sweep_id not in self._paths:
            self.scan()
        if sweep_id not in self._paths:
            raise NotFound(sweep_id)
        return self._paths[sweep_id]

    def sweep(self, sweep_id: str) -> load.Sweep:
        return self._cached(sweep_id, "sweep", lambda path: load.load_sweep(path))

    def _cached(self, sweep_id: str, what: str, build):
        path = self.path(sweep_id)
        stamp = _stamp(path)
        key = f"{sweep_id}/{what}"
        hit = self._cache.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        value = build(path) if what == "sweep" else build(self.sweep(sweep_id))
        self._cache[key] = (stamp, value)
        return value

    # --- payloads ---------------------------------------------------------------------

    def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep's summary; one that cannot be summarised is listed with the reason,
        and the others are still listed."""
        out = []
        for sweep_id in self.scan():
            try:
                out.append(self.summary(sweep_id))
            except store.CorruptStore as e:  # named from the sweep folder, as the page shows it
                where = e.path[len(self.path(sweep_id)) :].lstrip("/") or e.path
                out.append({"id": sweep_id, "error": f"{where}: {e.what}"})
            except UserError as e:  # a sweep whose first trial has not reported yet
                out.append({"id": sweep_id, "error": str(e)})
            except Exception as e:  # a store of a shape analysis did not expect: a bug, logged in full
                log.exception("sweep %s: cannot be summarised", sweep_id)
                out.append({"id": sweep_id, "error": f"cannot be summarised ({type(e).__name__}: {e})"})
        return sorted(out, key=lambda s: s.get("started") or "", reverse=True)  # newest first

    def summary(self, sweep_id: str) -> dict[str, Any]:
        out = self._cached(sweep_id, "summary", lambda s: _summary(sweep_id, s, self.path(sweep_id)))
        sweep, path = self.sweep(sweep_id), self.path(sweep_id)
        state = _state(sweep, path)  # "stale" comes with time, and so do elapsed and time left
        return {**out, "state": state, "progress": _progress(sweep, path, state)}

    def trials(self, sweep_id: str) -> dict[str, Any]:
        return self._cached(sweep_id, "trials", _trials)

    def curves(self, sweep_id: str) -> dict[str, Any]:
        return self._cached(sweep_id, "curves", _curves)

    def view(self, sweep_id: str, name: str) -> dict[str, Any]:
        """One of insight's views (decisions, importance, parallel, best_so_far) or the front."""
        if name not in VIEWS:
            raise NotFound(name)
        return self._cached(sweep_id, name, VIEWS[name])

    def compare(self, ids: list[str]) -> dict[str, Any]:
        if len(ids) < 2:
            raise UserError("compare: name two or more sweeps (?ids=A,B)")
        return insight.compare({i: self.sweep(i) for i in ids})

    def history(self, sweep_id: str, trial_id: str) -> dict[str, Any]:
        sweep = self.sweep(sweep_id)
        if trial_id not in set(sweep.trials[TRIAL_ID]):
            raise NotFound(trial_id)
        rows = sweep.history[sweep.history[TRIAL_ID] == trial_id]
        columns = [c for c in rows.columns if c != TRIAL_ID]
        return {
            "trial_id": trial_id,
            "columns": columns,
            "rows": [[_json(v) for v in r] for r in rows[columns].itertuples(index=False)],
        }


def _info(uri: str):
    """pyarrow's FileInfo of a path or URI (an object store's too)."""
    fs, path = files.filesystem(uri)
    return fs.get_file_info(path)


def _is_folder(uri: str) -> bool:
    return _info(uri).type == pafs.FileType.Directory


def _folders(uri: str) -> list[str]:
    """The folders directly inside ``uri``, sorted, as paths or URIs like it."""
    fs, path = files.filesystem(uri)
    names = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(path)) if i.type == pafs.FileType.Directory)
    return [store.join(uri, n) if is_remote(uri) else os.path.join(uri, n) for n in names]


def _has_store(path: str) -> bool:
    return _info(store.join(path, store.TRIALS)).type == pafs.FileType.File


def _mtime(path: str, name: str) -> float:
    mtime = _info(store.join(path, name)).mtime
    return mtime.timestamp() if mtime is not None else time.time()


def _stamp(path: str) -> tuple:
    """What changes when the sweep's store does: its files' times and sizes (on an object
    store, also its journal's objects)."""
    out = []
    for name in (store.TRIALS, store.HISTORY, store.JOURNAL, store.SWEEP_JSON):
        info = _info(store.join(path, name))
        out.append((info.mtime_ns, info.size) if info.type == pafs.FileType.File else None)
    if files.local_folder(path) is None:  # an object store: its journal is one object an event
        fs, folder = files.filesystem(store.join(path, store.JOURNAL_SEGMENTS))
        segments = [i.base_name for i in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))]
        out.append((len(segments), max(segments, default="")))
    return tuple(out)


def _state(sweep: load.Sweep, path: str) -> str:
    statuses = set(sweep.trials[STATUS].dropna())
    if statuses & {Status.RUNNING, Status.PENDING}:
        age = time.time() - _mtime(path, store.TRIALS)
        return "stale" if age > STALE_AFTER_S else "running"
    if Status.INTERRUPTED in statuses:
        return "interrupted"
    if statuses and statuses <= {Status.ERROR}:
        return "failed"
    return "done"


def _progress(sweep: load.Sweep, path: str, state: str) -> dict[str, Any]:
    """Trials ended of N (or epochs of the budget, for a sweep that budgets epochs), elapsed
    time, and for a running sweep an estimate of the time left at the pace so far."""
    f = sweep.facts
    ended = int(f["status"].isin(ENDED).sum())
    spent = int(f["epochs_trained"].sum())  # every epoch trained counts against the budget, repeats too
    budget = sweep.record.epoch_budget
    of = None if budget else sweep.record.trials_expected or sweep.record.num_samples
    elapsed = None
    try:
        started = dt.datetime.fromisoformat(sweep.record.started or "").timestamp()
        end = time.time() if state == "running" else _mtime(path, store.TRIALS)
        elapsed = max(0.0, end - started)
    except (ValueError, OSError):
        pass
    fraction = spent / budget if budget else ended / of if of else None
    eta = (
        elapsed * (1 - fraction) / fraction
        if state == "running" and elapsed is not None and fraction and 0 < fraction < 1
        else None
    )
    return {"ended": ended, "of": of, "epochs": spent, "epoch_budget": budget, "elapsed_s": elapsed, "eta_s": eta}


def _summary(sweep_id: str, sweep: load.Sweep, path: str) -> dict[str, Any]:
    f = sweep.facts
    status = f["status"].fillna(Status.PENDING)
    scored = f["best"].dropna()
    best = None
    if len(scored):
        top = sweep.ranked().iloc[0]
        best = {"trial_id": top["trial_id"], "label": top["label"], "value": _json(top["best"])}
    report = Path(path) / "report"
    return {
        "id": sweep_id,
        "name": sweep.name,
        "experiment": sweep.record.experiment,
        "metric": sweep.metric,
        "mode": sweep.mode,
        "objectives": [[m, mode] for m, mode in sweep.objectives],  # several: the page shows their front
        "scheduler": sweep.record.scheduler.name if sweep.record.scheduler else None,
        "searcher": sweep.record.searcher,
        "seed": sweep.record.seed,
        "num_samples": sweep.record.num_samples,
        "started": sweep.record.started,
        "state": _state(sweep, path),
        "trials": {
            "total": len(f),
            "running": int(status.isin([Status.RUNNING, Status.PENDING]).sum()),
            "done": int(((status == Status.TERMINATED) & ~f["scheduler_stopped"]).sum()),
            "stopped": int(f["scheduler_stopped"].sum()),
            "failed": int((status == Status.ERROR).sum()),
            "interrupted": int((status == Status.INTERRUPTED).sum()),
            "paused": int((status == Status.PAUSED).sum()),
            "time_up": int((status == Status.TIME_UP).sum()),
        },
        "ended_by": "time budget" if sweep.record.time_budget_spent else None,
        "best": best,
        "trial_hours": round(float(f["hours"].sum()), 4),
        "reports": [p.name for p in (report / "REPORT.md", report / "report.html") if p.is_file()],
    }


def _trials(sweep: load.Sweep) -> dict[str, Any]:
    obs = observe.observe(sweep)
    params = tables.table_params(sweep)
    metrics = tables.table_metrics(sweep)
    base = conclude.baseline_trial(sweep)
    rows = []
    for _, f in sweep.ranked().iterrows():
        tid = f["trial_id"]
        config = sweep.config(tid)
        at_best = sweep.at_best(tid)
        rows.append(
            {
                "trial_id": tid,
                "run": int(f["run"]),
                "label": f["label"],
                "preset": _json(f["preset"]),
                "status": _json(f["status"]),
                "stopped": bool(f["scheduler_stopped"]),
                "baseline": tid == base,
                "iterations": int(f["iterations"]),
                "best_iteration": int(f["best_iteration"]),
                "config": {p: _json(config.get(p)) for p in params},
                "metrics": {m: _json(at_best.get(m)) for m in metrics} | {sweep.metric: _json(f["best"])},
                "observations": [o.en for o in obs.get(tid, [])],
                "error": _json(f["error"]),
                "hours": round(float(f["hours"]), 5),
            }
        )
    chosen = None
    if sweep.facts["best"].notna().any():
        pick = select.choose(sweep)
        chosen = {
            "trial_id": pick.name,
            "label": pick["label"],
            "config": {k: _json(v) for k, v in sweep.config(pick.name).items()},
            "yaml": select.config_yaml(
                sweep, pick.name, f"best {sweep.metric} = {tables.fmt_metric(pick[sweep.metric])}"
            ),
        }
    return {
        "metric": sweep.metric,
        "mode": sweep.mode,
        "params": params,
        "metrics": metrics,
        "rows": rows,
        "chosen": chosen,
        "conclusions": conclude.conclusions(sweep, "en", base),
    }


def _curves(sweep: load.Sweep) -> dict[str, Any]:
    """The sweep metric by iteration for every trial, and each trial's searched values, for
    the learning-curve and metric-against-hyperparameter charts."""
    out = []
    images = _images(sweep)
    for _, f in sweep.facts.iterrows():
        tid = f["trial_id"]
        x, y = sweep.curve(tid, load.ITER), sweep.curve(tid, sweep.metric)
        config = sweep.config(tid)
        out.append(
            {
                "trial_id": tid,
                "label": f["label"],
                "status": _json(f["status"]),
                "stopped": bool(f["scheduler_stopped"]),
                "x": [_json(v) for v in x.tolist()],
                "y": [_json(v) for v in y.tolist()],
                "best": _json(f["best"]),
                "params": {p: _json(config.get(p)) for p in sweep.params},
                "images": images.get(tid, []),
            }
        )
    return {"metric": sweep.metric, "mode": sweep.mode, "params": sweep.params, "trials": out}


def _images(sweep: load.Sweep) -> dict[str, list[str]]:
    """Trial id -> paths, relative to the sweep folder, of the PNGs it saved (Tune syncs
    them into the trial's folder there, whose name holds the id)."""
    if is_remote(sweep.uri):
        return {}
    ids = set(sweep.trials[TRIAL_ID])
    out: dict[str, list[str]] = {}
    for d in Path(sweep.uri).iterdir():
        if not d.is_dir():
            continue
        owner = next((t for t in ids if t in d.name), None)
        if not owner:
            continue
        pngs = sorted(str(p.relative_to(sweep.uri)) for p in d.glob("*.png"))
        if pngs:
            out.setdefault(owner, []).extend(pngs)
    return out


def safe_file(root: str, relative: str) -> Optional[Path]:
    """``relative`` inside ``root``, or None for anything that escapes it (``..``, an
    absolute path, a symlink pointing out)."""
    if not relative or os.path.isabs(relative) or "\\" in relative or is_remote(root):  # images: served from folders
        return None
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    if os.path.commonpath([base, target]) != base or not os.path.isfile(target):
        return None
    return Path(target)
