"""Ctrl-C and SIGTERM during a sweep: Tune stops gracefully on SIGINT (it saves its state
one last time) and returns from ``fit`` as if the sweep had ended. This tells the two
apart and turns SIGTERM into the same graceful stop, so the CLI can say how to go on and
exit 130 / 143 instead of 0 with Ray's ``Tuner.restore`` advice.

Tune hands SIGINT back to the handler it found once it has caught one; ours, installed
before ``fit``, is therefore in place afterwards only if the sweep was interrupted.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any, Callable, Optional

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's codes for a process the signal ended
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class _NoRestoreAdvice(logging.Filter):
    """Ray's "Resume experiment with: Tuner.restore(...)": sweeplab says `sweeplab resume`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore" not in record.getMessage()


def fit(run: Callable[[], Any]) -> tuple[Any, Optional[int]]:
    """``run()`` (a Tuner's fit); returns its result and the signal that stopped it, if any."""
    if threading.current_thread() is not threading.main_thread():
        return run(), None
    got: list[int] = []

    def on_sigint(sig, frame):  # a second Ctrl-C, once Tune has handed SIGINT back: stop now
        raise KeyboardInterrupt

    def on_sigterm(sig, frame):  # the same graceful stop as Ctrl-C
        got.append(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)

    quiet = _NoRestoreAdvice()
    logging.getLogger("ray.tune.tune").addFilter(quiet)
    before_int = signal.signal(signal.SIGINT, on_sigint)
    before_term = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        result = run()
        interrupted = signal.getsignal(signal.SIGINT) is on_sigint
    finally:
        signal.signal(signal.SIGINT, before_int)
        signal.signal(signal.SIGTERM, before_term)
        logging.getLogger("ray.tune.tune").removeFilter(quiet)
    if not interrupted:
        return result, None
    return result, got[0] if got else signal.SIGINT
