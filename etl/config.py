"""Settings of a run: command-line options, else MASHAGHEL_* environment variables, else ./data/."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA = Path("data")
DEFAULTS = {
    "ingest_root": str(DEFAULT_DATA / "ingest"),
    "archive_root": str(DEFAULT_DATA / "archive"),
    "outbox_root": str(DEFAULT_DATA / "outbox"),
    "warehouse": f"sqlite:///{DEFAULT_DATA / 'warehouse.sqlite'}",
    "settle_seconds": "0",
    "claim_timeout": "600",  # seconds before a claim of a run that stopped refreshing it is taken over
    "pseudonym_key": "",
    "pseudonym_key_file": "",  # empty: pseudonym.key beside the ingest root
    "match_threshold": "",  # empty: the matching model's default (etl/match.py)
    "match_max_cluster": "",  # empty: the matching model's default
    # Rows held at once: files are validated and loaded in batches of a third of this many rows (one read
    # while two are validated and loaded), and a file of more rows is read, validated and loaded in chunks
    # of half as many (bounds a run's memory; see stream_rows).
    "batch_rows": "100000",
    # Run the expectation suites in a second process, beside reading and loading (etl/validate_worker.py).
    "validate_in_worker": "yes",
    # Files loaded at once on PostgreSQL, each lane in the order first seen (SQLite: always one).
    "load_lanes": "2",
}


def env_name(option: str) -> str:
    """MASHAGHEL_INGEST_ROOT for ingest_root, and so on."""
    return f"MASHAGHEL_{option.upper()}"


def setting(option: str, given: object | None = None) -> str:
    """A command-line value if given, else the environment variable, else the default."""
    if given is not None:
        return str(given)
    return os.environ.get(env_name(option)) or DEFAULTS[option]


def _yes(value: str) -> bool:
    if value.strip().lower() in ("yes", "true", "1", "on"):
        return True
    if value.strip().lower() in ("no", "false", "0", "off"):
        return False
    raise ValueError(f"expected yes or no, not {value!r}")


def _at_least_one(option: str, value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{env_name(option)} must be at least 1, not {number}")
    return number


@dataclass(frozen=True)
class Settings:
    """Where files come from and go to, which warehouse holds the data, and the pseudonym key."""

    ingest_root: Path
    archive_root: Path
    outbox_root: Path
    warehouse: str
    settle_seconds: float = 0.0
    claim_timeout: float = 600.0
    pseudonym_key: str = field(default="", repr=False)
    pseudonym_key_file: Path | None = None
    match_threshold: float | None = None
    match_max_cluster: int | None = None
    batch_rows: int = 100_000
    validate_in_worker: bool = False
    load_lanes: int = 2

    @classmethod
    def resolve(cls, **given: object | None) -> Settings:
        """Settings from explicit values (None = not given), the environment and the defaults."""
        key_file = setting("pseudonym_key_file", given.get("pseudonym_key_file"))
        threshold = setting("match_threshold", given.get("match_threshold"))
        max_cluster = setting("match_max_cluster", given.get("match_max_cluster"))
        return cls(
            ingest_root=Path(setting("ingest_root", given.get("ingest_root"))),
            archive_root=Path(setting("archive_root", given.get("archive_root"))),
            outbox_root=Path(setting("outbox_root", given.get("outbox_root"))),
            warehouse=setting("warehouse", given.get("warehouse")),
            settle_seconds=float(setting("settle_seconds", given.get("settle_seconds"))),
            claim_timeout=float(setting("claim_timeout", given.get("claim_timeout"))),
            pseudonym_key=setting("pseudonym_key", given.get("pseudonym_key")),
            pseudonym_key_file=Path(key_file) if key_file else None,
            match_threshold=float(threshold) if threshold else None,
            match_max_cluster=int(max_cluster) if max_cluster else None,
            batch_rows=int(setting("batch_rows", given.get("batch_rows"))),
            validate_in_worker=_yes(setting("validate_in_worker", given.get("validate_in_worker"))),
            load_lanes=_at_least_one("load_lanes", setting("load_lanes", given.get("load_lanes"))),
        )

    @property
    def stream_rows(self) -> int:
        """Rows of a file too big to hold (more than ``batch_rows``) handled at once. Half the batch: a
        chunk in its stages (parsed, normalised, validated) takes several times the memory of the rows
        a batch holds waiting. A 2,000,000-row file peaked at 1,569 MB in chunks of 100,000 rows and at
        946 MB in chunks of 50,000, before matching, in about the same time."""
        return max(1, self.batch_rows // 2)

    def pseudonym_key_bytes(self) -> bytes:
        """The key of person pseudonyms (the key file is created on first use when no key is set)."""
        from etl.pseudonym import key_bytes

        return key_bytes(self.pseudonym_key, self.pseudonym_key_file or self.ingest_root.parent / "pseudonym.key")
