"""Asynchronous successive halving that pauses instead of stopping ("promotion" ASHA).

Ray's ASHA stops a trial for good when it falls below its rung's cutoff; a trial that was
merely early in a rung (few results there yet) or behind a lucky one can never come back
(ray#44256). Here a trial reaching a rung milestone (grace period x reduction factor^k)
goes on at once if its score is in the top 1/eta of the scores that rung has seen, and is
otherwise paused with its checkpoint; whenever a worker frees up, the paused trial that
has since become promotable, highest rung first, resumes before any new config starts.
Nothing is lost to arrival order, and a rung whose scores are tied carries no
information, so ties with the cutoff are promotable rather than cut. A trial arriving
exactly at the cutoff (the last promotable place, or tied with it) goes on only where the
room is left once the paused trials that scored strictly better there have had theirs:
on seqclf's first rung most trials sit at the majority-class floor, and a late arrival
at the floor used to take the room of a trial waiting with a real score. One strictly
above the cutoff goes on at once, as in ASHA.

Presets (the reports' own configurations) always go on: they are the sweep's baselines.

Once no new config is coming (the searcher is finished) and no trial runs that could add
to a rung, paused trials that can never be promoted are stopped, so the sweep ends.

The endgame (a sweep with an ``epoch_budget`` or a ``time_budget_s``): once what is left of
the budget would only just finish the most promising paused trials (the best at the highest
rung, one a worker; in seconds, each at the pace of its latest epoch), a free
worker resumes the paused trials in that order, room or not, instead of starting a config
it could never finish; new configs wait (the limiter asks for none). Without it a small
budget ends with every good trial paused half-way and nothing trained to full length.

What a pause costs depends on the checkpoint. A trial whose newest report carried one
(Tune puts ``checkpoint_dir_name`` in every result of a function trainable) resumes where
it paused. A trial of a trainable that saves none restarts at epoch 1 when promoted: it
trains the rung's epochs again, which is what a fresh config costs to reach that rung, and
it is known to be among the rung's best, so it is still paused where a restart costs at
most 1/eta of a full trial (rung x eta <= max_t) and stopped or continued above that, as
Ray's ASHA does (on at or above the rung's cutoff, or with fewer than eta scores there).
A trial promoted past a rung that reaches it again (restarted, or restored from an older
checkpoint) goes on without a second decision, so nothing loops at a rung; every epoch
trained again is counted, and the sweep says once that its trainable saves no checkpoint
(chosen on the wall-clock harness's development tasks, bench/search_quality.py lcbench
--clock wall --no-checkpoint, against stopping or continuing every such trial).

The epoch budget counts epochs trained: every result is one (a trial restored from an
older checkpoint trains, and reports, some epochs again).

Tune does not save a scheduler's state with the experiment; on a resumed sweep this one
rebuilds it from the results store (every result and every decision is recorded there,
the journal before the act): each rung's scores, the trials promoted past each rung, the
trials paused and the rung each waits at, those the endgame is finishing, and the epochs
trained, the way ``recording.EpochBudget`` recounts its epochs. What the trials the endgame
was finishing still owe (from epoch 1 without a checkpoint) comes off the budget left before
any other paused trial is resumed, and once the epoch budget is spent none is: a sweep of
120 epochs killed at 112 in its endgame trained 160 before, 130 now (issue 30).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Optional, Sequence

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from .. import ray_internals, store
from ..schema import ENDED, MEASURED_IN, NO_CHECKPOINT, STATUS, epochs_trained
from ..store import preset_of
from .pareto import Constraint, RungFront
from .pausing import pausing_source
from .rungs import rung_milestones

SHOWN_SCORES = 50  # a decision records the rung's best scores up to this many, with their count and cutoff
CHECKPOINT_KEY = "checkpoint_dir_name"  # Tune: set in a function trainable's result when that report saved one
ENDGAME = "endgame"  # a promote decision's flag when the endgame resumed it to run to max_t
FEW, ROOM, BELOW = "few_scores", "no_room", "below_cutoff"  # a pause's "reason" in decisions.parquet
ELAPSED = "elapsed_s"  # a decision's flag under a time budget: the sweep's seconds so far

NO_CHECKPOINT_NOTE = (
    "note: trial {trial} reached a rung without having saved a checkpoint: a paused trial of this trainable "
    "restarts at epoch 1 when promoted (every epoch trained again is counted), so trials are paused only at rungs "
    "where that costs at most 1/{eta:g} of a trial, and stopped or continued above them. To resume instead, save a "
    "checkpoint with each report: tune.report(metrics, checkpoint=ray.tune.Checkpoint.from_directory(folder)), and "
    "start from tune.get_checkpoint() when there is one"
)


def _flag(decision: dict[str, Any], key: str) -> Any:
    """A flag a decision recorded with the rung's scores (``_log``'s ``flags``)."""
    try:
        return json.loads(decision.get("scores") or "{}").get(key)
    except (ValueError, AttributeError):
        return None


class PromotionASHA(FIFOScheduler):
    def __init__(
        self,
        time_attr: str = "training_iteration",
        max_t: int = 100,
        grace_period: int = 1,
        reduction_factor: float = 3,
        presets: Optional[dict[str, dict[str, Any]]] = None,
        store_uri: Optional[str] = None,
        max_concurrent: Optional[int] = None,
        epoch_budget: Optional[int] = None,
        time_budget_s: Optional[float] = None,
        objectives: Sequence[tuple[str, str]] = (),
        constraints: Sequence[Constraint] = (),
    ):
        super().__init__()
        if reduction_factor <= 1:
            raise ValueError(f"reduction_factor {reduction_factor}: must be > 1")
        self.time_attr, self.max_t, self.eta = time_attr, int(max_t), float(reduction_factor)
        self.milestones = rung_milestones(grace_period, reduction_factor, self.max_t)
        self.presets = presets or {}
        self.store_uri = store_uri
        # promotions wait for a free worker: the searcher sits in a PausingLimiter of the same size
        self.max_concurrent = max_concurrent
        self._metric: Optional[str] = None
        self._mode: Optional[str] = None
        self.rungs: dict[int, dict[str, float]] = {m: {} for m in self.milestones}  # milestone -> trial -> score
        self.promoted: dict[int, set[str]] = {m: set() for m in self.milestones}
        # several objectives (or constraints): MO-ASHA, each rung ranked by non-dominated
        # sorting (pareto.py), its scores those ranks
        self.fronts = (
            {m: RungFront(objectives, constraints) for m in self.milestones}
            if len(objectives) > 1 or constraints
            else {}
        )
        self.paused_at: dict[str, int] = {}  # trial id -> the milestone it waits at
        self.epoch_budget = epoch_budget
        self.reached: dict[str, int] = {}  # trial id -> the highest epoch it reported
        self.spent = 0  # epochs trained, repeats included: read at every scheduling step, so kept, not summed
        self.saved: dict[str, int] = {}  # trial id -> the epoch of its newest checkpoint
        self.uncheckpointed: Optional[str] = None  # the first trial found with nothing to pause from
        self.finishing: set[str] = set()  # resumed in the endgame: they run to max_t
        self.starting: set[str] = set()  # handed to Tune to start (or resume), no result yet
        self.ran: set[str] = set()  # reported in this run of the sweep (a resumed sweep's run starts empty)
        # the time budget, for the endgame: seconds of this sweep so far, on ``clock``, from the
        # scheduler's first call (plus a resumed sweep's earlier runs: ``elapsed_before``)
        self.time_budget_s = time_budget_s
        self.clock = time.monotonic
        self.began: Optional[float] = None
        self.elapsed_before = 0.0
        self.epoch_s: dict[str, float] = {}  # trial id -> the seconds its latest epoch took
        self._restored = False
        # a fresh sweep's first call reads the configs it took as measured before (known.py):
        # their scores sit in the rungs like its own
        self._measured_pending = bool(store_uri)

    # ---- resume

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a sweep saved by an older sweeplab: no endgame, nothing starting
        self.__dict__.update(
            {
                "epoch_budget": None,
                "reached": {},
                "spent": 0,
                "finishing": set(),
                "fronts": {},
                "starting": set(),
                "ran": set(),
                "saved": {},
                "uncheckpointed": None,
                "time_budget_s": None,
                "clock": time.monotonic,
                "elapsed_before": 0.0,
                "epoch_s": {},
                **state,
            }
        )
        self.began = None  # this run's clock starts at its first call
        self.ran = set()  # and nothing has reported in it yet
        self._restored = True  # a resumed sweep: the rungs come back from the store on first use

    def _first_call(self) -> None:
        if self._restored:
            self._rebuild()
        elif self.__dict__.get("_measured_pending"):
            self._seed_measured()

    def _seed_measured(self) -> None:
        """The configs the store holds as measured by an earlier sweep: their rung scores, and
        past every rung they went beyond (as a trial promoted there)."""
        self._measured_pending = False
        recorded = store.ACTIVE.get(self.store_uri or "")
        if recorded is None:
            return
        measured = {t for t, row in recorded.trials.items() if row.get(MEASURED_IN)}
        reached = self._scores_from(recorded.history, measured)
        self.reached.update(reached)
        for m in self.milestones:
            self.promoted[m] |= {t for t, it in reached.items() if it > m}

    def _scores_from(self, history: dict, trials: Optional[set] = None) -> dict[str, int]:
        """The store's rows (of ``trials``, else all) into the rungs' scores; each trial's
        highest epoch."""
        reached: dict[str, int] = {}
        for (trial_id, it), row in history.items():
            if trials is not None and trial_id not in trials:
                continue
            reached[trial_id] = max(reached.get(trial_id, 0), int(it))
            value = row.get(self._metric)
            if int(it) in self.rungs and isinstance(value, (int, float)) and not math.isnan(value):
                self._score(int(it), trial_id, row)
        return reached

    def _rebuild(self) -> None:
        self._measured_pending = self._restored = False
        if not self.store_uri:
            return
        from ..store import SweepRecorder

        recorded = SweepRecorder(self.store_uri, None, self._metric or "", self._mode or "max")
        recorded.load()
        reached = self._scores_from(recorded.history)
        for m in self.milestones:
            self.promoted[m] = {t for t, it in reached.items() if it > m}
        self.reached = reached
        self.spent = sum(epochs_trained(row) for row in recorded.trials.values())
        self.paused_at, self.finishing = {}, set()
        for decision in recorded.decisions:  # in the order they were made: the last one stands
            trial_id, rung, action = str(decision["trial_id"]), int(decision["rung"]), decision["action"]
            if action == "pause" and rung in self.rungs and trial_id in self.rungs[rung]:
                self.paused_at[trial_id] = rung
                self.promoted[rung].discard(trial_id)
                if _flag(decision, "why") != NO_CHECKPOINT:  # it paused with a checkpoint of that epoch
                    self.saved[trial_id] = rung
            elif action in ("promote", "stop"):
                self.paused_at.pop(trial_id, None)
                if action == "promote" and rung in self.promoted:
                    self.promoted[rung].add(trial_id)
                    if _flag(decision, ENDGAME):
                        self.finishing.add(trial_id)
            if _flag(decision, "why") == NO_CHECKPOINT:
                self.uncheckpointed = self.uncheckpointed or trial_id
            elapsed = _flag(decision, ELAPSED)
            if isinstance(elapsed, (int, float)):  # the earlier runs' seconds, as of their last decision
                self.elapsed_before = max(self.elapsed_before, float(elapsed))
        # waiting: not ended, and known to the store (a trial that died with the driver before
        # Tune saved it is dropped there; its id may come back as a new config)
        live = {t for t, row in recorded.trials.items() if row.get(STATUS) not in ENDED}
        self.paused_at = {t: m for t, m in self.paused_at.items() if t in live}
        self.finishing &= live

    # ---- Tune's calls

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        """A resumed Tune brings every unfinished trial back pending and starts each pending
        trial itself: one the store says waits at a rung is filed as paused instead (a trial
        that saved no checkpoint would otherwise train again from epoch 1 up to that rung,
        only to wait there again); it runs when promoted."""
        if self._restored and self._metric:
            self._rebuild()
        recorded = store.ACTIVE.get(self.store_uri or "")
        if recorded is not None and trial.trial_id in self.reached and trial.trial_id not in recorded.trials:
            # a new config under the id of a trial that died with the driver before Tune saved
            # it (the store dropped that one as Tune's first step began; Tune adds the trials it
            # restored before that, and new configs after): nothing of the dead trial is this one's
            self._forget(trial.trial_id)
        if trial.trial_id in self.paused_at and trial.status in (Trial.PENDING, Trial.PAUSED):
            trial.set_status(Trial.PAUSED)
            # and what makes new configs counts it apart, though its saved state may predate
            # the pause (it would count the trial as holding a worker, and make no config
            # while nothing could promote the paused ones: the sweep hung)
            source = pausing_source(tune_controller)
            if source is not None:
                source.on_pause(trial.trial_id)

    def _forget(self, trial_id: str) -> None:
        self.paused_at.pop(trial_id, None)
        self.reached.pop(trial_id, None)
        self.saved.pop(trial_id, None)
        for m in self.milestones:
            self.rungs[m].pop(trial_id, None)
            self.promoted[m].discard(trial_id)
            if self.fronts:
                self.fronts[m].forget(trial_id)

    def set_search_properties(self, metric: Optional[str], mode: Optional[str], **spec) -> bool:
        if self._metric or self._mode:
            return False
        self._metric, self._mode = metric, mode
        return True

    def _signed(self, value: float) -> float:
        return value if self._mode == "max" else -value

    def on_trial_result(self, tune_controller, trial: Trial, result: dict[str, Any]) -> str:
        self._first_call()
        if self.time_attr not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        self.starting.discard(trial.trial_id)  # it runs
        self.ran.add(trial.trial_id)
        self._elapsed()  # starts the clock
        seconds = result.get("time_this_iter_s")
        if isinstance(seconds, (int, float)) and seconds > 0:
            self.epoch_s[trial.trial_id] = float(seconds)
        t = int(result[self.time_attr])
        before = self.reached.get(trial.trial_id, 0)
        # an epoch a result; below its highest epoch the trial trains some again (a restart
        # or an older checkpoint), and those count too
        self.spent += t - before if t > before else 1
        self.reached[trial.trial_id] = max(t, before)
        if result.get(CHECKPOINT_KEY):
            self.saved[trial.trial_id] = t
        elif self.saved.get(trial.trial_id, 0) >= t:  # restarted below its checkpoint: that one is gone
            self.saved.pop(trial.trial_id)
        if t >= self.max_t:
            return TrialScheduler.STOP
        waits_at = self.paused_at.get(trial.trial_id)
        if waits_at is not None and t > waits_at and trial.trial_id in self.saved:
            # paused, yet Tune ran it (a driver killed before Tune's saved state knew of the
            # pause restores it as pending): it waits for its promotion as before
            return self._pause(tune_controller, trial.trial_id, waits_at)
        if t not in self.rungs:
            return TrialScheduler.CONTINUE
        if trial.trial_id in self.promoted[t]:
            return TrialScheduler.CONTINUE  # promoted past this rung before: trained again up to it
        self._score(t, trial.trial_id, result)
        if (
            preset_of(self.presets, trial.config) is not None
            or trial.trial_id in self.finishing
            or self._promotable(t, trial.trial_id)
        ):
            self.promoted[t].add(trial.trial_id)
            self._log(trial.trial_id, t, "continue")
            return TrialScheduler.CONTINUE
        if trial.trial_id not in self.saved:  # nothing to resume from: ASHA's rule, not a pause
            return self._without_checkpoint(tune_controller, trial.trial_id, t)
        return self._pause(tune_controller, trial.trial_id, t, reason=self._held_because(t, trial.trial_id))

    def _score(self, milestone: int, trial_id: str, row: dict[str, Any]) -> None:
        """The trial's score at a rung: its metric (signed, larger is better), or under
        several objectives its rank in the rung's front (every trial's score moves)."""
        if self.__dict__.get("fronts"):
            self.rungs[milestone] = self.fronts[milestone].add(trial_id, row)
            return
        value = float(row[str(self._metric)])
        self.rungs[milestone][trial_id] = self._signed(value) if not math.isnan(value) else -math.inf

    def _held_because(self, milestone: int, trial_id: str) -> str:
        """Why a trial that did not go on waits, for the decisions grid: its rung had fewer
        than eta scores (FEW), or it is in the top 1/eta but the rung's promotions are taken
        (ROOM: by presets, which always go on, and trials that went on before it), or it
        scored below the cutoff (BELOW)."""
        cutoff = self._cutoff(milestone)
        if cutoff is None:
            return FEW
        return ROOM if self.rungs[milestone][trial_id] >= cutoff else BELOW

    def _pause(self, tune_controller, trial_id: str, milestone: int, **flags: Any) -> str:
        self.paused_at[trial_id] = milestone
        self._log(trial_id, milestone, "pause", **flags)
        limiter = pausing_source(tune_controller)
        if limiter is not None:
            limiter.on_pause(trial_id)
            limiter.reserved = len(self._ready()[1])
        return TrialScheduler.PAUSE

    def _without_checkpoint(self, tune_controller, trial_id: str, milestone: int) -> str:
        """A trial with no checkpoint below the rung's cutoff: paused where a restart from
        epoch 1 costs at most 1/eta of a trial; above that it goes on if it reaches the
        cutoff (or the rung has fewer than eta scores), else it stops. Said once a sweep."""
        if self.uncheckpointed is None:
            self.uncheckpointed = trial_id
            print(NO_CHECKPOINT_NOTE.format(trial=trial_id, eta=self.eta), flush=True)
        if milestone * self.eta <= self.max_t:
            return self._pause(tune_controller, trial_id, milestone, why=NO_CHECKPOINT)
        cutoff = self._cutoff(milestone)
        if cutoff is None or self.rungs[milestone][trial_id] >= cutoff:
            self.promoted[milestone].add(trial_id)
            self._log(trial_id, milestone, "continue")
            return TrialScheduler.CONTINUE
        self._log(trial_id, milestone, "stop", why=NO_CHECKPOINT)
        return TrialScheduler.STOP

    def _cutoff(self, milestone: int) -> Optional[float]:
        scores = self.rungs[milestone]
        k = int(len(scores) // self.eta)
        return sorted(scores.values(), reverse=True)[k - 1] if k else None

    def _log(self, trial_id: str, milestone: int, action: str, **flags: Any) -> None:
        """Into the sweep's results store, where this driver records one (not in unit use)."""
        recorder = store.ACTIVE.get(self.store_uri or "")
        if recorder is None:
            return
        sign = 1.0 if self._mode == "max" else -1.0
        scores = self.rungs[milestone]
        top = sorted(scores.items(), key=lambda kv: -kv[1])[:SHOWN_SCORES]
        cutoff = self._cutoff(milestone)
        front = self.__dict__.get("fronts", {}).get(milestone)
        if front is not None:  # ranks, not values: the log shows the first objective's values, best rank first
            top, cutoff, sign = [(t, front.value(t)) for t, _ in top], None, 1.0
        recorder.decided(
            trial_id,
            milestone,
            milestone,
            action,
            {
                "n": len(scores),
                "promoted": len(self.promoted[milestone]),
                "cutoff": None if cutoff is None else sign * cutoff,
                "top": {t: sign * v for t, v in top},
                **flags,
                **({ELAPSED: round(self._elapsed(), 3)} if self.time_budget_s else {}),
            },
        )

    def _slots(self, milestone: int) -> int:
        """How many more trials the rung may promote: 1/eta of its scores so far, less those promoted."""
        return int(len(self.rungs[milestone]) // self.eta) - len(self.promoted[milestone])

    def _room(self, milestone: int) -> bool:
        return self._slots(milestone) > 0

    def _promotable(self, milestone: int, trial_id: str) -> bool:
        """In the top 1/eta of the rung's scores and the rung has room; at the cutoff
        itself (its last place, or tied with it) only where the room is left once the
        paused trials that scored strictly better there have had theirs."""
        slots = self._slots(milestone)
        if slots <= 0:
            return False
        score, cutoff = self.rungs[milestone][trial_id], self._cutoff(milestone)
        if cutoff is None:  # no room without a score to cut at (slots > 0 means there is one)
            return False
        if score != cutoff:
            return score > cutoff
        # at the cutoff (a tie carries no information): promotable, but not ahead of a trial
        # waiting at this rung that scored strictly better
        ahead = sum(m == milestone and t != trial_id and self.rungs[m][t] > score for t, m in self.paused_at.items())
        return slots > ahead

    def _endgame_order(self, paused: Optional[set[str]] = None) -> list[str]:
        """Paused trials, the most promising first: highest rung, then best score there."""
        waiting = [t for t in self.paused_at if paused is None or t in paused]
        return sorted(waiting, key=lambda t: (-self.paused_at[t], -self.rungs[self.paused_at[t]][t]))

    def endgame(self, order: Optional[list[str]] = None) -> bool:
        """Whether what is left of the epoch budget, or of the time budget, only pays for
        finishing the most promising paused trials, one a worker (see the module's doc).
        ``order``: the paused trials as ``_endgame_order`` gives them, where the caller has it."""
        if not self.paused_at or (self.epoch_budget is None and not self.time_budget_s):
            return False
        order = self._endgame_order() if order is None else order
        workers = self.max_concurrent or 1
        best = order[:workers]
        left = self._epochs_left()
        if left is not None:
            # spent: the paused trials are left as they are (and stopped once nothing comes)
            if 0 < left <= sum(self._to_finish(t) for t in best):
                return True
        if self.time_budget_s:
            # the workers' seconds left against the seconds those trials need, each at its own pace
            left_s = (self.time_budget_s - self._elapsed()) * workers
            need = [self._to_finish(t) * self.epoch_s[t] for t in best if t in self.epoch_s]
            return bool(need) and 0 < left_s <= sum(need)
        return False

    def _epochs_left(self) -> Optional[int]:
        """Epochs of the budget left for promotions: less what the trials the endgame was
        finishing when the sweep stopped still have to train (a resumed sweep runs them
        first: without a checkpoint from epoch 1, else from their checkpoint). None without
        an epoch budget."""
        if self.epoch_budget is None:
            return None
        owed = sum(self.max_t - (self.reached.get(t, 0) if t in self.saved else 0) for t in self.finishing - self.ran)
        return self.epoch_budget - self.spent - owed

    def _elapsed(self) -> float:
        """Seconds of the sweep so far, its earlier runs' included."""
        now = self.clock()
        if self.began is None:
            self.began = now
        return self.elapsed_before + now - self.began

    def _to_finish(self, trial_id: str) -> int:
        """Epochs a paused trial trains to max_t: from its rung, or from 1 without a checkpoint."""
        return self.max_t - (self.paused_at[trial_id] if trial_id in self.saved else 0)

    def _ready(self, paused: Optional[set[str]] = None) -> tuple[bool, list[tuple[int, str]]]:
        """Whether it is the endgame, and the (milestone, trial) a free worker resumes, in
        order: in the endgame every paused trial, else the promotable ones."""
        order = self._endgame_order(paused)
        if self.endgame(order):
            return True, [(self.paused_at[t], t) for t in order]
        left = self._epochs_left()
        if left is not None and left <= 0:  # the budget is spent: nothing more is resumed
            return False, []
        return False, self._promotable_waiting(paused)

    def _promotable_waiting(self, paused: Optional[set[str]] = None) -> list[tuple[int, str]]:
        """The paused trials a free worker would resume, one per rung with room, highest
        rung first: a rung's best waiting trial, when it reaches the rung's cutoff."""
        ready = []
        for milestone in reversed(self.milestones):  # the highest rung first: closest to a result
            waiting = [t for t, m in self.paused_at.items() if m == milestone and (paused is None or t in paused)]
            if not waiting or not self._room(milestone):
                continue
            trial_id = max(waiting, key=lambda t: self.rungs[milestone][t])
            cutoff = self._cutoff(milestone)
            if cutoff is not None and self.rungs[milestone][trial_id] >= cutoff:
                ready.append((milestone, trial_id))
        return ready

    def choose_trial_to_run(self, tune_controller) -> Optional[Trial]:
        self._first_call()
        trials = tune_controller.get_trials()
        limiter = pausing_source(tune_controller)
        # paused: Tune's paused trials, and those a resumed Tune brought back as pending that
        # the store says wait at a rung (started, a trial that saved no checkpoint would
        # train again from epoch 1 only to wait at the same rung)
        paused = {
            t.trial_id: t
            for t in trials
            if t.status == Trial.PAUSED
            or (t.status == Trial.PENDING and t.trial_id in self.paused_at and t.trial_id not in self.starting)
        }
        endgame, ready = self._ready(set(paused))
        # a worker is held by a running trial or one handed out that Tune is still starting; a
        # config made but not handed out holds none, and a promotion goes before it
        busy = sum(
            t.status == Trial.RUNNING or (t.status == Trial.PENDING and t.trial_id in self.starting) for t in trials
        )
        chosen = None
        if ready and not (self.max_concurrent and busy >= self.max_concurrent):
            milestone, trial_id = ready.pop(0)
            self.promoted[milestone].add(trial_id)
            del self.paused_at[trial_id]
            if endgame:
                self.finishing.add(trial_id)
            self._log(trial_id, milestone, "promote", **({ENDGAME: True} if endgame else {}))
            if limiter is not None:
                limiter.on_unpause(trial_id)
            chosen = paused.pop(trial_id)
        if limiter is not None:  # no new config while a promotion waits for a worker
            limiter.reserved = len(ready)
        if chosen is not None:
            return self._hand_out(chosen)
        if self.max_concurrent and busy >= self.max_concurrent:
            return None
        for trial in trials:
            if trial.status == Trial.PENDING and trial.trial_id not in self.starting and trial.trial_id not in paused:
                return self._hand_out(trial)
        # paused trials a restored sweep knows nothing of: run them again rather than lose them
        for trial in paused.values():
            if trial.trial_id not in self.paused_at:
                if limiter is not None:
                    limiter.on_unpause(trial.trial_id)
                return self._hand_out(trial)
        if paused and not any(t.status == Trial.RUNNING for t in trials) and self._searcher_done(tune_controller):
            for trial in paused.values():  # nothing can promote them any more: they were cut
                if trial.trial_id in self.paused_at:
                    self._log(trial.trial_id, self.paused_at.pop(trial.trial_id), "stop")
                tune_controller.stop_trial(trial)
        return None

    def _hand_out(self, trial: Trial) -> Trial:
        self.starting.add(trial.trial_id)
        return trial

    @staticmethod
    def _searcher_done(tune_controller) -> bool:
        """Whether any new config can still come (Tune hands schedulers ``search_alg``)."""
        finished = getattr(getattr(tune_controller, "search_alg", None), "is_finished", None)
        return bool(finished()) if callable(finished) else False

    def _ended(self, trial_id: str) -> None:
        """A trial ended (finished, failed or removed): it waits for nothing and owes nothing."""
        self.paused_at.pop(trial_id, None)
        self.starting.discard(trial_id)
        self.finishing.discard(trial_id)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._ended(trial.trial_id)

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict[str, Any]) -> None:
        self._ended(trial.trial_id)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self._ended(trial.trial_id)

    def debug_string(self) -> str:
        return "PromotionASHA: " + ", ".join(
            f"rung {m}: {len(self.rungs[m])} seen, {len(self.promoted[m])} promoted" for m in self.milestones
        )


# a trial must be seen at each milestone exactly: Tune may not batch its results past one
setattr(PromotionASHA, ray_internals.BUFFERED_RESULTS, False)
