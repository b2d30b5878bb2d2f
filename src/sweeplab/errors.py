"""The one exception type that means "the user gave us something wrong"."""

from __future__ import annotations

from typing import Any, Iterator, Optional


class UserError(Exception):
    """Bad input (file, flag, key, data path): the CLI prints it on one line, exits 2."""


class TrialDiverged(RuntimeError):
    """A trial's loss became NaN or infinite; Tune records it as the trial's error.
    ``failure``: the same as fields (``schema.diverged``), which the store keeps as columns;
    an exception's attributes survive its pickling to the driver."""

    def __init__(self, message: str, failure: Optional[dict[str, Any]] = None):
        super().__init__(message)
        self.failure = dict(failure or {})


def causes(error: Optional[BaseException]) -> Iterator[BaseException]:
    """``error`` and every exception it wraps: Python's chain (``__cause__``,
    ``__context__``), Ray's (a RayTaskError keeps the trial's own as ``.cause``) and Ray
    Train's (a WorkerGroupError keeps each worker's in ``worker_failures``)."""
    todo, seen = [error], set()
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        failures = getattr(e, "worker_failures", None)
        todo += [
            getattr(e, "cause", None),
            e.__cause__,
            e.__context__,
            *(failures.values() if isinstance(failures, dict) else ()),
        ]
