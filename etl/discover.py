"""Find the files provinces dropped under the ingest root, and where each one stands.

Nothing here opens a file: discovery only looks at names and ``lstat``. Symbolic
links are never followed; a link anywhere is refused (``unsafe_path``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from etl.contract import SOURCES
from etl.reasons import UNKNOWN_PROVINCE, UNKNOWN_SOURCE, UNSAFE_PATH

IN_PROGRESS_PREFIXES = (".", "~$")
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload")


@dataclass(frozen=True)
class DroppedFile:
    """A file (or link) found under the ingest root."""

    path: Path
    relative_path: str
    province_code: str
    source: str
    place_reason: str | None
    size: int
    mtime: float

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_link(self) -> bool:
        return self.place_reason == UNSAFE_PATH


@cache
def province_codes() -> frozenset[str]:
    """The ISO 3166-2:IR codes of the 31 provinces."""
    from etl.warehouse import province_rows

    return frozenset(row["iso_code"] for row in province_rows())


def is_in_progress(name: str) -> bool:
    """Names of files still being written, which are left alone."""
    lowered = name.lower()
    return name.startswith(IN_PROGRESS_PREFIXES) or lowered.endswith(IN_PROGRESS_SUFFIXES)


def _place(parts: tuple[str, ...], is_link: bool) -> tuple[str, str, str | None]:
    """(province folder, source folder, place reason) of a path relative to the root."""
    folders = parts[:-1]
    province = folders[0] if folders else ""
    source = folders[1] if len(folders) > 1 else ""
    if is_link:
        return province, source, UNSAFE_PATH
    if province not in province_codes():
        return province, source, UNKNOWN_PROVINCE
    if source not in SOURCES:
        return province, source, UNKNOWN_SOURCE
    return province, source, None


def discover(ingest_root: Path, settle_seconds: float, now: float) -> list[DroppedFile]:
    """Every ready file under the root, in order of modification time, then path.

    A file modified less than ``settle_seconds`` before ``now`` is still being
    written and left for a later run; so are names in :data:`IN_PROGRESS_SUFFIXES`.
    """
    found: list[DroppedFile] = []
    stack = [ingest_root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if is_in_progress(entry.name):
                    continue
                info = entry.stat(follow_symlinks=False)
                relative = Path(entry.path).relative_to(ingest_root)
                is_link = stat.S_ISLNK(info.st_mode)
                if not is_link and stat.S_ISDIR(info.st_mode):
                    stack.append(Path(entry.path))
                    continue
                if not is_link and not stat.S_ISREG(info.st_mode):
                    continue  # sockets, pipes and devices are not provincial files
                if not is_link and settle_seconds > 0 and now - info.st_mtime < settle_seconds:
                    continue
                province, source, reason = _place(relative.parts, is_link)
                found.append(
                    DroppedFile(
                        path=Path(entry.path),
                        relative_path=relative.as_posix(),
                        province_code=province,
                        source=source,
                        place_reason=reason,
                        size=info.st_size,
                        mtime=info.st_mtime,
                    )
                )
    found.sort(key=lambda f: (f.mtime, f.relative_path))
    return found


def still_being_written(dropped: DroppedFile) -> bool:
    """A second look: the file's size or modification time changed since discovery, or it is gone."""
    if dropped.is_link:
        return not os.path.lexists(dropped.path)
    try:
        info = dropped.path.stat(follow_symlinks=False)
    except FileNotFoundError:
        return True
    return info.st_size != dropped.size or info.st_mtime != dropped.mtime


def file_sha256(dropped: DroppedFile) -> str:
    """SHA-256 of the file's bytes; of a link, of its target text (the target is never read)."""
    digest = hashlib.sha256()
    if dropped.is_link:
        digest.update(os.fsencode(os.readlink(dropped.path)))
        return digest.hexdigest()
    with dropped.path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(ingest_root: Path, relative_path: str) -> DroppedFile | None:
    """The file at a path found earlier, looked at again; None when it is gone or in progress.

    Every folder on the way is checked with ``lstat``: behind a folder replaced by
    a link since discovery nothing is read (the link itself is refused when found).
    """
    relative = Path(relative_path)
    if relative.is_absolute() or ".." in relative.parts or is_in_progress(relative.name):
        return None
    path = ingest_root / relative
    if any((ingest_root / Path(*relative.parts[:i])).is_symlink() for i in range(1, len(relative.parts))):
        return None
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    is_link = stat.S_ISLNK(info.st_mode)
    if not is_link and not stat.S_ISREG(info.st_mode):
        return None
    province, source, reason = _place(relative.parts, is_link)
    return DroppedFile(
        path=path,
        relative_path=relative.as_posix(),
        province_code=province,
        source=source,
        place_reason=reason,
        size=info.st_size,
        mtime=info.st_mtime,
    )
