"""One driver a sweep folder: a lock file holding its owner's pid, host and command.

``tune`` makes a new sweep's folder with an atomic ``mkdir`` (two ``tune --name same`` at
once: the second is refused, nothing of the first's is touched), and ``tune`` and
``resume`` both take the lock before Ray starts: a second ``resume`` of a live sweep is
refused in one line. A lock whose owner died (a killed driver) is stale: on the host that
wrote it, a pid no longer running is taken over, with a note. From another host a lock
cannot be checked: the message says what to delete once that driver is known to be dead.

On URI storage (s3://, gs://) an object store has no exclusive create: the lock is written
and read back (advisory: two drivers starting within the same instant can both pass).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from typing import Any, Optional

from . import files
from .schema import is_remote
from .errors import UserError

LOCK = ".sweeplab.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class SweepLock:
    def __init__(self, uri: str, command: str):
        self.uri, self.command = uri, command
        self.path = files.join(uri, LOCK)
        self.mine: Optional[dict[str, Any]] = None

    def _owner(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "started": dt.datetime.now().isoformat(timespec="seconds")}

    def create_folder(self) -> None:
        """A new sweep's folder, made atomically where the storage allows it."""
        if is_remote(self.uri):
            return
        os.makedirs(os.path.dirname(self.uri.rstrip("/")), exist_ok=True)
        try:
            os.mkdir(self.uri)
        except FileExistsError:
            raise UserError(f"{self.uri} already exists (another sweep of that name started just now?); "
                            "pick another --name") from None

    def refuse_if_held(self) -> None:
        """Before any other check: a sweep another driver holds is refused first (it may
        not have written all its files yet), and nothing is written here."""
        held = self._read()
        if held and not self._stale(held):
            raise UserError(self._busy(held))

    def acquire(self) -> "SweepLock":
        owner = self._owner()
        if is_remote(self.uri):  # no exclusive create: write, then read back who won
            self.refuse_if_held()  # a killed driver's stale lock is overwritten, as below
            files.write_json(self.path, owner)
            winner = self._read()
            if winner != owner:
                raise UserError(self._busy(winner or {}))
            self.mine = owner
            return self
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self._read()
                if held is None or self._stale(held):
                    if held is not None:
                        print(f"note: {self.uri}: taking over the lock of pid {held.get('pid')} "
                              f"({held.get('command', '?')}, since {held.get('started', '?')}), no longer running",
                              file=sys.stderr)
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                    continue
                raise UserError(self._busy(held)) from None
            with os.fdopen(fd, "w") as f:
                json.dump(owner, f)
                f.flush()
                os.fsync(f.fileno())
            self.mine = owner
            return self
        raise UserError(f"{self.uri}: could not take the lock {self.path}; another driver is starting on it")

    def _read(self) -> Optional[dict[str, Any]]:
        try:
            held = json.loads(files.read_bytes(self.path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # half-written or garbage: treated as stale on this host
        return held if isinstance(held, dict) else {}

    @staticmethod
    def _stale(held: dict[str, Any]) -> bool:
        pid = held.get("pid")
        if held.get("host") != socket.gethostname():
            return False  # cannot tell from here
        return not isinstance(pid, int) or not _alive(pid)

    def _busy(self, held: dict[str, Any]) -> str:
        who = f"pid {held.get('pid', '?')} on {held.get('host', '?')}"
        return (f"{self.uri} is in use by `{held.get('command', '?')}` ({who}, since {held.get('started', '?')}); "
                f"wait for it to end, or if that driver is dead delete {self.path}")

    def release(self) -> None:
        if self.mine is None:
            return
        try:
            if self._read() == self.mine:
                files.delete(self.path)
        except OSError:
            pass  # a read-only or vanished store: the next driver finds a stale lock
        self.mine = None

    def remove_if_empty(self) -> None:
        """The folder ``create_folder`` made, if nothing was written into it."""
        if is_remote(self.uri):
            return
        try:
            os.rmdir(self.uri)
        except OSError:
            pass  # not empty (the sweep ran), or gone

    def __enter__(self) -> "SweepLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
