"""What makes new configs under a scheduler that pauses trials (promotion ASHA): Ray's
ConcurrencyLimiter and its random / grid generator count a paused trial as live, so with
every slot paused they make no new config and nothing comes to promote the paused ones (the
sweep hangs). These count the trials that hold a worker instead, and are told of each pause
and promotion by the scheduler (``pausing_source``)."""

from __future__ import annotations

from typing import Any, Optional

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher

from ..ray_internals import generator_live_trials, limiter_count_live, limiter_live_trials

FINISHED: Any = Searcher.FINISHED  # Ray's sentinel (a str), which the type of its Searcher.suggest leaves out


class PausingLimiter(ConcurrencyLimiter):
    """Ray's ConcurrencyLimiter counts a paused trial as live: with every slot paused it
    would refuse each new config, and nothing would come to promote them. This one counts
    the trials that hold a worker (live, not paused) plus the paused trials the scheduler
    is about to promote (``reserved``): a promotion goes before a new config, and
    ``--max-concurrent`` holds. Tune starts every pending trial it has resources for, so
    the limit has to sit here, where trials are made."""

    def __init__(self, searcher: Searcher, max_concurrent: int):
        super().__init__(searcher, max_concurrent=max_concurrent)
        self.paused: set[str] = set()
        self.reserved = 0

    def active(self) -> int:
        return len(limiter_live_trials(self) - self.paused)

    def suggest(self, trial_id: str):
        if self.active() + self.reserved >= self.max_concurrent:
            return None
        suggestion = self.searcher.suggest(trial_id)  # not super(): it counts paused trials
        if suggestion is not None and suggestion != FINISHED:
            limiter_count_live(self, trial_id)
        return suggestion

    def on_pause(self, trial_id: str) -> None:
        self.paused.add(trial_id)
        getattr(self.searcher, "on_pause", lambda _: None)(trial_id)  # only some searchers listen

    def on_unpause(self, trial_id: str) -> None:
        self.paused.discard(trial_id)
        getattr(self.searcher, "on_unpause", lambda _: None)(trial_id)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        self.paused.discard(trial_id)
        super().on_trial_complete(trial_id, result=result, error=error)


class PausingVariantGenerator(BasicVariantGenerator):
    """Ray's random / grid generator with PausingLimiter's count: its own ``max_concurrent``
    counts paused trials as live, so under promotion it stopped making configs once every
    slot was paused, and nothing came to promote them (the sweep hung)."""

    def __init__(
        self, points_to_evaluate: Optional[list[dict]] = None, random_state: Any = None, max_concurrent: int = 0
    ):
        super().__init__(points_to_evaluate=points_to_evaluate, random_state=random_state, max_concurrent=0)
        self.limit = max_concurrent
        self.paused: set[str] = set()
        self.reserved = 0

    def next_trial(self):
        if self.limit > 0 and len(generator_live_trials(self) - self.paused) + self.reserved >= self.limit:
            return None
        return super().next_trial()

    def on_pause(self, trial_id: str) -> None:
        self.paused.add(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self.paused.discard(trial_id)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        self.paused.discard(trial_id)
        super().on_trial_complete(trial_id, result=result, error=error)


def pausing_source(tune_controller):
    """What makes new configs, where it counts paused trials apart (PausingLimiter or
    PausingVariantGenerator): told of each pause and promotion."""
    search_alg = getattr(tune_controller, "search_alg", None)
    if isinstance(search_alg, PausingVariantGenerator):
        return search_alg
    searcher = getattr(search_alg, "searcher", None)
    return searcher if isinstance(searcher, PausingLimiter) else None
