"""Claims: which process is working on which file, or on publishing, kept in the warehouse.

A run claims a file (a row in ``file_claim``) before it decides it and releases the
claim once the file is archived; a run that meets a file claimed by a live run leaves
it to that run. The key of a file that counts as seen is its identity
(province|source|sha256), so two copies of the same bytes are never decided at once
and the copy seen first is the one loaded; a file refused for its place is claimed by
its path and hash. Resolving people and publishing hold the ``publish`` claim.

While a :class:`Claims` is open, a background thread refreshes its claims every third
of the timeout (``claim_timeout``, ``MASHAGHEL_CLAIM_TIMEOUT``, default 600 s). A claim
is stale, and taken over, when it was not refreshed for the timeout, or at once when
its holder was a process of this machine that no longer exists. The transaction that
commits a file first checks that the claim is still its own (:func:`confirm`), so even
a holder taken for dead cannot load a file twice. Times are the warehouse's clock.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("mashaghel")

PUBLISH = "publish"
_LIVE: set[str] = set()  # nonces of the Claims open in this process


class ClaimLost(RuntimeError):
    """Another run took over this run's claim (this run was taken for dead): its work is not committed."""


@dataclass(frozen=True)
class Claim:
    """One claim held: its key and the token of this taking of it."""

    key: str
    token: str


def file_claim_key(province_code: str, source: str, sha256: str, relative_path: str, place_reason: str | None) -> str:
    """The claim key of a file: its identity, or its path and hash when refused for its place."""
    if place_reason:
        return f"path|{relative_path}|{sha256}"
    return f"file|{province_code}|{source}|{sha256}"


def _now_sql(connection: Connection) -> str:
    if connection.dialect.name == "postgresql":
        return "EXTRACT(EPOCH FROM clock_timestamp())"
    return "((julianday('now') - 2440587.5) * 86400.0)"


def warehouse_now(connection: Connection) -> float:
    """Seconds since 1970 by the warehouse's clock."""
    return float(connection.execute(sa.text(f"SELECT {_now_sql(connection)}")).scalar_one())


def lock_table(connection: Connection, table: str) -> None:
    """Make the rest of this transaction exclusive among the writers of ``table`` (call it first).

    PostgreSQL locks the table against other writers; SQLite takes the database's
    write lock at once (``BEGIN IMMEDIATE``), so what the transaction reads stays true
    until it commits.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    elif not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _start_time(pid: int) -> str | None:
    """The start time of a process (Linux ``/proc``), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@functools.cache
def _process(pid: int) -> tuple[str, str, str]:
    """(host, pid namespace, pid:start time) naming a process unambiguously on this machine."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return socket.gethostname(), namespace, f"{pid}:{_start_time(pid) or ''}"


def this_process() -> str:
    """This process as a claim holder names it: host|pid namespace|pid:start time."""
    return "|".join(_process(os.getpid()))


def holder_is_gone(holder: str) -> bool:
    """True when the holder is known to be dead: a process of this machine that no longer exists.

    A holder on another machine (or in another container) is never judged here: its
    claim goes stale by the timeout alone.
    """
    process, _, nonce = holder.rpartition("|")
    if process == this_process():
        return nonce not in _LIVE
    host, namespace, ident = [*process.split("|"), "", "", ""][:3]
    mine_host, mine_namespace, _ = _process(os.getpid())
    if not namespace or (host, namespace) != (mine_host, mine_namespace):
        return False
    pid, _, started = ident.partition(":")
    if not pid.isdigit():
        return False
    now_started = _start_time(int(pid))
    return now_started is None or (bool(started) and now_started != started)


class Claims:
    """The claims of one run: take, confirm and release them; open as a context manager."""

    def __init__(self, engine: Engine, run_id: str, timeout: float) -> None:
        self.engine = engine
        self.run_id = run_id
        self.timeout = float(timeout)
        self._nonce = uuid.uuid4().hex[:12]
        self.holder = f"{this_process()}|{self._nonce}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Claims:
        _LIVE.add(self._nonce)
        self.sweep()
        self._thread = threading.Thread(target=self._heartbeat, name="mashaghel-claims", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop refreshing and release every claim still held (a gone warehouse lets them go stale)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.text("DELETE FROM file_claim WHERE holder = :h"), {"h": self.holder})
        except sa.exc.SQLAlchemyError as error:
            log.warning("claims of run %s not released (%s); they are taken over as stale", self.run_id, error)
        finally:
            _LIVE.discard(self._nonce)

    def _heartbeat(self) -> None:
        interval = max(self.timeout / 3, 0.1)
        while not self._stop.wait(interval):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        sa.text(f"UPDATE file_claim SET heartbeat_at = {_now_sql(connection)} WHERE holder = :h"),
                        {"h": self.holder},
                    )
            except sa.exc.SQLAlchemyError as error:  # the next beat tries again
                log.debug("claim heartbeat failed: %s", error)

    def _stale(self, holder: str, heartbeat_at: float, now: float) -> bool:
        return now - float(heartbeat_at) > self.timeout or holder_is_gone(holder)

    def sweep(self) -> int:
        """Delete stale claims (of dead runs); returns how many."""
        with self.engine.begin() as connection:
            now = warehouse_now(connection)
            rows = connection.execute(sa.text("SELECT claim_key, holder, token, heartbeat_at FROM file_claim")).all()
            stale = [{"k": key, "t": token} for key, holder, token, beat in rows if self._stale(holder, beat, now)]
            if stale:
                connection.execute(sa.text("DELETE FROM file_claim WHERE claim_key = :k AND token = :t"), stale)
        return len(stale)

    def try_claim(self, key: str, relative_path: str | None = None) -> Claim | None:
        """Take the claim if it is free or stale; None when a live run holds it."""
        token = uuid.uuid4().hex
        with self.engine.begin() as connection:
            now = warehouse_now(connection)
            values = {"k": key, "p": relative_path, "r": self.run_id, "h": self.holder, "t": token, "now": now}
            inserted = connection.execute(
                sa.text(
                    "INSERT INTO file_claim (claim_key, relative_path, run_id, holder, token, claimed_at, heartbeat_at)"
                    " VALUES (:k, :p, :r, :h, :t, :now, :now) ON CONFLICT (claim_key) DO NOTHING"
                ),
                values,
            )
            if inserted.rowcount != 1:
                held = connection.execute(
                    sa.text("SELECT holder, token, heartbeat_at, run_id FROM file_claim WHERE claim_key = :k"), values
                ).first()
                if held is not None and not self._stale(held.holder, held.heartbeat_at, now):
                    return None
                taken = connection.execute(
                    sa.text(
                        "UPDATE file_claim SET relative_path = :p, run_id = :r, holder = :h, token = :t,"
                        " claimed_at = :now, heartbeat_at = :now WHERE claim_key = :k AND token = :old"
                    ),
                    {**values, "old": held.token if held is not None else ""},
                )
                if taken.rowcount != 1:
                    return None
                log.warning("took over the claim on %s from run %s, which died", relative_path or key, held.run_id)
        return Claim(key, token)

    def wait_for(
        self, key: str, relative_path: str | None = None, seconds: float | None = None, poll: float = 0.25
    ) -> Claim | None:
        """Take the claim, waiting while a live run holds it, at most ``seconds`` (None: until it is free)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            claim = self.try_claim(key, relative_path)
            if claim is not None or (deadline is not None and time.monotonic() >= deadline):
                return claim
            time.sleep(poll)

    def release(self, claim: Claim) -> None:
        """Give the claim back (when the warehouse does not answer, it goes stale instead)."""
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.text("DELETE FROM file_claim WHERE claim_key = :k AND token = :t"),
                    {"k": claim.key, "t": claim.token},
                )
        except sa.exc.SQLAlchemyError as error:
            log.warning("claim on %s not released (%s); it is taken over as stale", claim.key, error)


def confirm(connection: Connection, claim: Claim) -> None:
    """Inside the transaction that commits a file: raise ClaimLost unless the claim is still ours."""
    still = connection.execute(
        sa.text(f"UPDATE file_claim SET heartbeat_at = {_now_sql(connection)} WHERE claim_key = :k AND token = :t"),
        {"k": claim.key, "t": claim.token},
    )
    if still.rowcount != 1:
        raise ClaimLost(f"the claim on {claim.key} was taken over by another run")
