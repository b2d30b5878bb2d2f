"""sweeplab's own progress display, instead of Ray's trial tables (``-v`` brings those back).

One status line (trials done / stopped / failed / running / paused of N, best so far and
whose, elapsed and an estimate of what is left), redrawn in place on a terminal and printed
every ``PLAIN_EVERY`` seconds otherwise, and one line per trial as it ends. It reads the
results store's rows (the recorder the store callback feeds), so it shows what the store
holds, never a second bookkeeping of Tune's events.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Optional, TextIO

from .schema import (
    BEST_ITERATION,
    ENDED,
    ERROR,
    ITERATIONS,
    MEASURED_IN,
    PRESET,
    STATUS,
    STOPPED_AT_RUNG,
    Status,
    best_column,
    epochs_trained,
)

PLAIN_EVERY = 30.0  # seconds between status lines when the output is not a terminal
REDRAW_EVERY = 0.5  # seconds between redraws on a terminal


def clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """What the display says, from the store's rows; ``lines`` returns what to print now."""

    def __init__(
        self,
        metric: str,
        mode: str,
        total: Optional[int] = None,
        epoch_budget: Optional[int] = None,
        time_budget: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
        max_t: Optional[int] = None,
    ):
        self.metric, self.mode = metric, mode
        self.total, self.epoch_budget, self.time_budget = total, epoch_budget, time_budget
        self.max_t = max_t  # a trial's epochs: what a running trial may still train
        self.clock, self.start = clock, clock()
        self.runs: dict[str, int] = {}  # trial id -> run number, in the order trials started
        self.reported: set[str] = set()  # trials whose end has been printed
        self.best: Optional[tuple[float, str]] = None

    def name(self, trial_id: str, row: dict[str, Any]) -> str:
        run = f"run #{self.runs[trial_id]}"
        preset = row.get(PRESET)  # NaN in a row read back from Parquet (a resumed sweep's)
        return f"{run} (preset {preset})" if isinstance(preset, str) and preset else run

    def _better(self, value: float) -> bool:
        return self.best is None or (value < self.best[0] if self.mode == "min" else value > self.best[0])

    def update(self, rows: dict[str, dict[str, Any]]) -> list[str]:
        """Take the store's rows; the lines for trials that ended since the last call."""
        out = []
        for trial_id, row in rows.items():
            if trial_id not in self.runs:
                self.runs[trial_id] = len(self.runs) + 1
            value = row.get(best_column(self.metric))
            if isinstance(value, (int, float)) and math.isfinite(value) and self._better(value):
                self.best = (float(value), self.name(trial_id, row))
            status = row.get(STATUS)
            if status in ENDED and trial_id not in self.reported:
                self.reported.add(trial_id)
                out.append(self.ended_line(trial_id, row))
        return out

    def ended_line(self, trial_id: str, row: dict[str, Any]) -> str:
        value = row.get(best_column(self.metric))
        at = row.get(BEST_ITERATION)
        at = int(at) if isinstance(at, (int, float)) and math.isfinite(at) else "?"
        score = (
            f"{self.metric} {value:.4g} (epoch {at})"
            if isinstance(value, (int, float)) and math.isfinite(value)
            else f"no {self.metric}"
        )
        reached, trained = int(row.get(ITERATIONS, 0) or 0), epochs_trained(row)
        epochs = f"{reached} epoch{'s' if reached != 1 else ''}"
        if trained > reached:  # restarted or restored from an older checkpoint: the repeats cost time too
            epochs += f" ({trained} trained)"
        if row.get(STATUS) == Status.ERROR:
            error = str(row.get(ERROR) or "").strip().splitlines()
            return f"  failed   {self.name(trial_id, row)} after {epochs}: {error[-1][:120] if error else 'no message'}"
        best = " - best so far" if self.best and self.best[0] == value else ""
        if isinstance(row.get(MEASURED_IN), str):  # an earlier sweep's figures, taken as they are
            return f"  known    {self.name(trial_id, row)}: {score}, measured in {row[MEASURED_IN]}, not trained again{best}"
        verb = "stopped " if row.get(STOPPED_AT_RUNG) is not None else "finished"
        return f"  {verb} {self.name(trial_id, row)} after {epochs}: {score}{best}"

    def status(self, rows: dict[str, dict[str, Any]]) -> str:
        counts = {"finished": 0, "stopped": 0, "failed": 0, "running": 0, "paused": 0}
        for row in rows.values():
            status = row.get(STATUS)
            if status == Status.TERMINATED:
                counts["stopped" if row.get(STOPPED_AT_RUNG) is not None else "finished"] += 1
            elif status == Status.ERROR:
                counts["failed"] += 1
            elif status == Status.PAUSED:
                counts["paused"] += 1
            elif status in (Status.RUNNING, Status.RESTARTING):
                counts["running"] += 1
        ended = counts["finished"] + counts["stopped"] + counts["failed"]
        of = f" of {self.total}" if self.total and not self.epoch_budget else ""
        parts = [f"{ended}{of} trials ended"] + [f"{n} {k}" for k, n in counts.items() if n and k != "finished"]
        spent = sum(epochs_trained(row) for row in rows.values())
        if self.epoch_budget:  # trials running when the budget is reached finish their epochs: it can be passed
            parts.append(
                f"{spent} of {self.epoch_budget} epochs"
                if spent <= self.epoch_budget
                else f"{spent} epochs (budget {self.epoch_budget}: the last trials finish)"
            )
        elapsed = self.clock() - self.start
        line = ", ".join(parts) + f" | {clock_text(elapsed)} elapsed"
        left = self.left(elapsed, ended, spent, self._running_left(rows))
        if left is not None:
            line += f", ~{clock_text(left)} left"
        if self.best:
            line += f" | best {self.metric} {self.best[0]:.4g}: {self.best[1]}"
        return line

    def _running_left(self, rows: dict[str, dict[str, Any]]) -> Optional[int]:
        """Epochs the running trials may still train (to max_t); None where max_t is unknown."""
        running = [row for row in rows.values() if row.get(STATUS) in (Status.RUNNING, Status.RESTARTING)]
        if not running:
            return 0
        if not self.max_t:
            return None
        return sum(max(0, self.max_t - int(row.get(ITERATIONS, 0) or 0)) for row in running)

    def left(self, elapsed: float, ended: int, spent: int, running_left: Optional[int] = 0) -> Optional[float]:
        """Time left at the pace so far: by epochs against an epoch budget (and, once it is
        spent, what the running trials may still train), else by trials against N; never
        past a time budget, and never nothing while trials run."""
        done = spent / self.epoch_budget if self.epoch_budget else ended / self.total if self.total else 0
        estimate = elapsed * (1 - done) / done if 0 < done < 1 else (0.0 if done >= 1 else None)
        if done >= 1 and running_left != 0:  # trials still run: their epochs at the pace so far
            per_epoch = elapsed / spent if spent else None
            estimate = running_left * per_epoch if running_left is not None and per_epoch else None
        if self.time_budget:
            cap = max(0.0, self.time_budget - elapsed)
            estimate = cap if estimate is None else min(estimate, cap)
        return estimate


class Display:
    """Writes a Progress to a stream: redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, progress: Progress, stream: Optional[TextIO] = None, tty: Optional[bool] = None):
        self.progress, self.stream = progress, stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.last = -math.inf
        self.drawn = False

    def tick(self, rows: dict[str, dict[str, Any]], final: bool = False) -> None:
        ended = self.progress.update(rows)
        now = self.progress.clock()
        due = final or now - self.last >= (REDRAW_EVERY if self.tty else PLAIN_EVERY)
        if not ended and not due:
            return
        clear = "\r\033[K" if self.tty and self.drawn else ""
        text = clear + "".join(line + "\n" for line in ended)
        if due or self.tty:
            status = self.progress.status(rows)
            text += status + ("\n" if final or not self.tty else "")
            self.drawn = self.tty and not final
            self.last = now if due else self.last
        self.stream.write(text)
        self.stream.flush()


class Ticker:
    """A line every ``every`` seconds while a long set-up step runs before any epoch (the
    GAN's digit classifier, tokenising reviews, decoding clips): ``  WHAT DONE of TOTAL, S s``.
    Call it with how much is done; quick steps print nothing."""

    def __init__(
        self,
        what: str,
        total: int,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        stream: Optional[TextIO] = None,
    ):
        self.what, self.total, self.every, self.clock, self.stream = what, total, every, clock, stream
        self.start = self.last = clock()

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            print(
                f"  {self.what} {done} of {self.total}, {now - self.start:.0f} s",
                file=self.stream or sys.stdout,
                flush=True,
            )
