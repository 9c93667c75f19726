"""Settings of a run: command-line options, else MASHAGHEL_* environment variables, else ./data/."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = Path("data")
DEFAULTS = {
    "ingest_root": str(DEFAULT_DATA / "ingest"),
    "archive_root": str(DEFAULT_DATA / "archive"),
    "outbox_root": str(DEFAULT_DATA / "outbox"),
    "warehouse": f"sqlite:///{DEFAULT_DATA / 'warehouse.sqlite'}",
    "settle_seconds": "0",
}


def env_name(option: str) -> str:
    """MASHAGHEL_INGEST_ROOT for ingest_root, and so on."""
    return f"MASHAGHEL_{option.upper()}"


def setting(option: str, given: object | None = None) -> str:
    """A command-line value if given, else the environment variable, else the default."""
    if given is not None:
        return str(given)
    return os.environ.get(env_name(option)) or DEFAULTS[option]


@dataclass(frozen=True)
class Settings:
    """Where files come from and go to, and which warehouse holds the data."""

    ingest_root: Path
    archive_root: Path
    outbox_root: Path
    warehouse: str
    settle_seconds: float = 0.0

    @classmethod
    def resolve(cls, **given: object | None) -> Settings:
        """Settings from explicit values (None = not given), the environment and the defaults."""
        return cls(
            ingest_root=Path(setting("ingest_root", given.get("ingest_root"))),
            archive_root=Path(setting("archive_root", given.get("archive_root"))),
            outbox_root=Path(setting("outbox_root", given.get("outbox_root"))),
            warehouse=setting("warehouse", given.get("warehouse")),
            settle_seconds=float(setting("settle_seconds", given.get("settle_seconds"))),
        )
