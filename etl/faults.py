"""Named fault points for crash tests: ``MASHAGHEL_FAULT_POINT=after_commit:3`` kills the process
(SIGKILL, as a power cut or the OOM killer would) the 3rd time the run reaches ``after_commit``.

Unset, as everywhere but in tests, :func:`fault_point` is one comparison. The points:

- ``after_sightings``: the run's sightings are committed, no file is taken yet.
- ``after_read``: a file was read, nothing of it is written yet.
- ``before_commit``: a file's manifest row, records (COPY on PostgreSQL) and refused rows
  are in its transaction, not committed.
- ``after_commit``: the file's transaction is committed; no receipt, not archived.
- ``after_receipt``: the receipt is written; the file is still in the ingest folder.
- ``after_archive``: the file is in the archive; its manifest row is not marked archived.
- ``during_resolve``: the person table is emptied inside the resolve transaction.
- ``during_publish``: one reporting view was exported, the others not yet.
"""

from __future__ import annotations

import os
import signal

ENV = "MASHAGHEL_FAULT_POINT"
POINTS = (
    "after_sightings",
    "after_read",
    "before_commit",
    "after_commit",
    "after_receipt",
    "after_archive",
    "during_resolve",
    "during_publish",
)


def _parse(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV}={spec!r}: unknown fault point (known: {', '.join(POINTS)})")
    return name, int(count or 1)


_ARMED = _parse(os.environ.get(ENV))
_reached = 0


def fault_point(name: str) -> None:
    """Kill this process here when MASHAGHEL_FAULT_POINT names this point and its count is reached."""
    if _ARMED is None or _ARMED[0] != name:
        return
    global _reached
    _reached += 1
    if _reached == _ARMED[1]:
        os.kill(os.getpid(), signal.SIGKILL)
