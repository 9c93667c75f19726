"""The data contract as data: sources, canonical columns, aliases and enumerations.

Loaded once from ``columns.toml`` beside this module, the single mapping from what
provinces write in their headers to canonical names.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from etl.persian import match_key

SOURCES = ("applicants", "loans", "training")
COLUMNS_FILE = Path(__file__).with_name("columns.toml")


@dataclass(frozen=True)
class Column:
    """One canonical column of a source."""

    name: str
    kind: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    enum: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Source:
    """A kind of record a province sends: its columns, key and header lookup."""

    name: str
    label_fa: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    one_of: tuple[tuple[str, ...], ...] = ()
    header_lookup: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def required_columns(self) -> list[str]:
        """Columns a file must have, leaving out the one-of groups."""
        grouped = {name for group in self.one_of for name in group}
        return [c.name for c in self.columns if c.required and c.name not in grouped]

    def canonical_name(self, header: str) -> str | None:
        """The canonical column a header names, or None for an unknown column."""
        return self.header_lookup.get(match_key(header) or "")


@cache
def contract() -> dict[str, Source]:
    """All sources of the contract, keyed by source name."""
    data = tomllib.loads(COLUMNS_FILE.read_text(encoding="utf-8"))
    sources: dict[str, Source] = {}
    for name, spec in data["sources"].items():
        columns = tuple(
            Column(
                name=c["name"],
                kind=c["kind"],
                required=c.get("required", False),
                aliases=tuple(c.get("aliases", ())),
                enum=c.get("enum"),
                unit=c.get("unit"),
            )
            for c in spec["columns"]
        )
        lookup: dict[str, str] = {}
        for column in columns:
            for spelling in (column.name, *column.aliases):
                key = match_key(spelling)
                assert key is not None
                if lookup.setdefault(key, column.name) != column.name:
                    raise ValueError(f"{name}: header {spelling!r} names two columns")
        sources[name] = Source(
            name=name,
            label_fa=spec["label_fa"],
            key=tuple(spec["key"]),
            columns=columns,
            one_of=tuple(tuple(group) for group in spec.get("one_of", ())),
            header_lookup=lookup,
        )
    assert tuple(sources) == SOURCES, f"columns.toml must define exactly {SOURCES}"
    return sources


@cache
def enum_lookup(enum: str) -> dict[str, str]:
    """Accepted spelling (as a match key) -> canonical value, for one enumeration."""
    data = tomllib.loads(COLUMNS_FILE.read_text(encoding="utf-8"))
    lookup: dict[str, str] = {}
    for canonical, spellings in data["enums"][enum].items():
        for spelling in (canonical, *spellings):
            key = match_key(spelling)
            assert key is not None
            lookup[key] = canonical
    return lookup
