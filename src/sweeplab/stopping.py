"""Ctrl-C and SIGTERM during a sweep: Tune stops gracefully on SIGINT (it saves its state
one last time) and returns from ``fit`` as if the sweep had ended. This tells the two
apart and turns SIGTERM into the same graceful stop, so the CLI can say how to go on and
exit 130 / 143 instead of 0 with Ray's ``Tuner.restore`` advice.

Tune hands SIGINT back to the handler it found once it has caught one; ours, installed
before ``fit``, is therefore in place afterwards only if the sweep was interrupted.

A signal sent to the whole process group (``timeout``, Slurm's ``scancel``, a supervisor)
reaches the Ray this driver started too, and Tune's graceful stop would then wait 60 s for
a GCS that no longer answers and exit 1. When one of Ray's processes has died within a
moment of the signal, the driver stops at once instead: the results store is durable
already (its journal) and Tune saved its state within the last second, so it closes the
store, stops what is left of the Ray it started (its own descendants, nothing else), says
how to resume and exits 143.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional

EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's codes for a process the signal ended
NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Terminated(KeyboardInterrupt):
    """SIGTERM outside a sweep's ``fit`` (``terminate_as_interrupt``)."""


def terminate_as_interrupt() -> None:
    """The process's SIGTERM raises :class:`Terminated` (its ``finally`` blocks run: the lock
    is let go, Ray's exit handler stops the Ray it started); ``fit`` puts its own in place
    while a sweep runs."""
    global _TERMINATE_AS_INTERRUPT
    _TERMINATE_AS_INTERRUPT = True
    signal.signal(signal.SIGTERM, _raise_terminated)


def after_ray_started() -> None:
    """Ray's core worker puts its own SIGTERM handler in place as ``ray.init`` starts it (a
    stack trace and exit 15, 30 s later): this process's comes back."""
    if _TERMINATE_AS_INTERRUPT and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


_TERMINATE_AS_INTERRUPT = False


def _raise_terminated(sig, frame):
    raise Terminated


class _NoRestoreAdvice(logging.Filter):
    """Ray's "Resume experiment with: Tuner.restore(...)": sweeplab says `sweeplab resume`.
    Ray's "Stop signal received ... Press CTRL+C ... to skip" becomes sweeplab's own line,
    which names the signal that came (SIGTERM is not a Ctrl-C) and what a second one does."""

    def __init__(self, got: list[int]):
        super().__init__()
        self.got = got

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Stop signal received"):
            what = "SIGTERM" if signal.SIGTERM in self.got else "Ctrl-C"
            print(
                f"sweeplab: {what}: stopping the sweep; Tune saves its state once more (Ctrl-C again stops at once)",
                file=sys.stderr,
                flush=True,
            )
            return False
        return "Tuner.restore" not in message


def fit(run: Callable[[], Any], uri: str = "") -> tuple[Any, Optional[int]]:
    """``run()`` (a Tuner's fit); returns its result and the signal that stopped it, if any.
    ``uri``: the sweep, for the resume hint of a stop that cannot wait for Tune."""
    if threading.current_thread() is not threading.main_thread():
        return run(), None
    got: list[int] = []
    ray_processes = _ray_processes()

    def on_sigint(sig, frame):  # a second Ctrl-C, once Tune has handed SIGINT back: stop now
        raise KeyboardInterrupt

    def on_sigterm(sig, frame):  # the same graceful stop as Ctrl-C, unless it took Ray down too
        got.append(signal.SIGTERM)
        if ray_processes:  # here, not in a thread: the main thread holds the GIL in Ray's 60-s wait
            _stop_if_ray_died(ray_processes, signal.SIGTERM, uri)
        os.kill(os.getpid(), signal.SIGINT)

    quiet = _NoRestoreAdvice(got)
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


def _ray_processes() -> list:
    """The Ray processes this driver started and that run now (GCS, raylet, dashboard, log
    monitor ...: a local Ray); none for a cluster's Ray, which is not ours."""
    try:
        from .ray_internals import local_node

        node = local_node()
        infos = [i for group in (node.all_processes.values() if node is not None else ()) for i in group]
        return [i.process for i in infos if i.process.poll() is None]
    except (ImportError, AttributeError):
        return []


def _stop_if_ray_died(ray_processes: list, sig: int, uri: str, wait_s: float = 1.0) -> None:
    """After ``sig``: if one of the Ray processes this driver started dies within ``wait_s``
    (a signal to the group reaches them at the same instant; Ray's GCS then stops answering
    though it lives on), the signal went to the whole group: stop now (see the module's
    text). Else return: Tune's graceful stop goes on."""
    deadline = time.monotonic() + wait_s
    while all(p.poll() is None for p in ray_processes):
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)
    from . import store
    from .schema import STATUS, Status

    for recorder in list(store.ACTIVE.values()):
        try:  # the trials that were running are interrupted; paused ones stay paused
            recorder.close(
                {t: Status.RUNNING for t, row in recorder.trials.items() if row.get(STATUS) == Status.RUNNING}
            )
        except Exception:  # the journal holds every event anyway; resume replays it
            pass
    kill_descendants()
    where = f"sweeplab resume {uri}" if uri else "sweeplab resume <sweep folder>"
    print(
        f"stopped ({NAMES[sig]}, which stopped Ray's own processes too: a signal to the whole process group); "
        f"resume with: {where}",
        flush=True,
    )
    sys.stderr.flush()
    os._exit(EXIT[sig])


def kill_descendants() -> None:
    """SIGKILL every process descended from this one (the Ray it started: raylet, agents,
    workers), read from /proc; nothing else."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents():
        children.setdefault(ppid, []).append(pid)
    todo, found = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _parents():
    """(pid, parent pid) of every process, from /proc (nothing where there is none)."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as f:  # "pid (comm) state ppid ...": comm may hold spaces
                yield int(entry), int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone since the listing
