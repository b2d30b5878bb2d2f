"""One driver a sweep folder: a lock file holding its owner's pid, host and command.

``tune`` makes a new sweep's folder with an atomic ``mkdir`` (two ``tune --name same`` at
once: the second is refused, nothing of the first's is touched), and ``tune`` and
``resume`` both take the lock before Ray starts: a second ``resume`` of a live sweep is
refused in one line. The lock is the file's ``flock``, held while the driver runs and let go
by the kernel when it dies, so taking over a dead driver's lock is atomic (two drivers at
once: one wins) and the file is never unlinked under a live owner; its text (who, since
when) is for the messages, and a lock file left empty or garbage is a dead driver's. On the
host that wrote it, a lock whose owner died is taken over with a note. Another host's lock
is refused: the message says what to delete once that driver is known to be dead.

On URI storage (s3://, gs://) an object store has no exclusive create: the lock is written
and read back (advisory: two drivers starting within the same instant can both pass).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
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
        self._fd: Optional[int] = None  # the lock file, held with flock while this driver runs

    def _owner(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started": dt.datetime.now().isoformat(timespec="seconds"),
        }

    def create_folder(self) -> None:
        """A new sweep's folder, made atomically where the storage allows it."""
        if is_remote(self.uri):
            return
        parent = os.path.dirname(self.uri.rstrip("/"))
        try:
            os.makedirs(parent, exist_ok=True)
        except FileExistsError:  # a file of that name, or a twin sweep making the folder at the same instant
            if not os.path.isdir(parent):
                raise UserError(f"--storage {parent}: exists and is not a folder") from None
        try:
            os.mkdir(self.uri)
        except FileExistsError:
            raise UserError(
                f"{self.uri} already exists (another sweep of that name started just now?); pick another --name"
            ) from None

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
        for _ in range(5):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):  # a live driver holds it, here or over NFS
                    raise UserError(self._busy(self._read() or {})) from None
                raise UserError(
                    f"{self.path}: cannot lock it ({e.strerror}); is the storage a file system that supports locks?"
                ) from None
            try:  # the file at the path still, not one a releasing driver unlinked after this open
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            held = self._read()
            if held and held.get("host") != socket.gethostname():
                os.close(fd)  # another host's driver, whose lock this host's kernel may not see
                raise UserError(self._busy(held))
            if held and isinstance(held.get("pid"), int) and held["pid"] != os.getpid() and _alive(held["pid"]):
                os.close(fd)  # alive, and holding no lock: a driver of a sweeplab from before locks were held
                raise UserError(self._busy(held))
            if held:
                print(
                    f"note: {self.uri}: taking over the lock of pid {held.get('pid')} "
                    f"({held.get('command', '?')}, since {held.get('started', '?')}), no longer running",
                    file=sys.stderr,
                )
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(owner).encode(), 0)
            os.fsync(fd)
            self.mine, self._fd = owner, fd
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
        if not held.get("host"):  # empty or garbage: a driver killed between creating and writing it
            return True
        if held.get("host") != socket.gethostname():
            return False  # cannot tell from here
        return not isinstance(pid, int) or not _alive(pid)

    def _busy(self, held: dict[str, Any]) -> str:
        who = f"pid {held.get('pid', '?')} on {held.get('host', '?')}"
        return (
            f"{self.uri} is in use by `{held.get('command', '?')}` ({who}, since {held.get('started', '?')}); "
            f"wait for it to end, or if that driver is dead delete {self.path}"
        )

    def release(self) -> None:
        if self.mine is None:
            return
        try:
            if self._read() == self.mine:
                files.delete(self.path)  # while still held: a driver that opened it before sees another file
        except OSError:
            pass  # a read-only or vanished store: the next driver finds a stale lock
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
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
