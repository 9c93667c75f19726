"""The data dictionary: table and column descriptions read from docs/warehouse.md.

docs/warehouse.md is the one place where the analysts' descriptions are
written; on PostgreSQL the same text becomes table, view and column comments, so
``\\d+`` in psql and any SQL client's catalogue show what the guide says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import Connection

from etl.access import PERSONAL_SCHEMA, REPORTING_SCHEMA

DOCS = Path(__file__).resolve().parents[1] / "docs" / "warehouse.md"
_SECTION = re.compile(r"^### 2\.(\d+) (.+)$")
_NAME = re.compile(r"`([^`]+)`")
LINEAGE_SECTION = "1"
SUFFIXES = {"_jalali_year": "Jalali (Solar Hijri) year", "_jalali_month": "Jalali month (1 = Farvardin)"}


@dataclass
class ObjectDoc:
    """What the guide says of one table or view."""

    name: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)


def _plain(text: str) -> str:
    """Markdown cell text as plain text."""
    return re.sub(r"\s+", " ", text.replace("**", "").replace("`", "").replace("\\|", "|")).strip()


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _column_names(first_cell: str) -> list[tuple[str | None, str, str]]:
    """(object or None, column, suffix) named by a table's first cell, with ``(+ `_suffix`)`` expansions."""
    base, _, suffixes = first_cell.partition("(+")
    names: list[tuple[str | None, str, str]] = []
    owner: str | None = None
    for name in _NAME.findall(base):
        if "." in name:
            prefix, column = name.split(".", 1)
            owner = prefix or owner
            names.append((owner, column, ""))
        else:
            names.append((None, name, ""))
    stems = list(names)
    for suffix in _NAME.findall(suffixes):
        names.extend((owner_, column + suffix, suffix) for owner_, column, _ in stems)
    return names


def _meaning(cells: list[str], header: list[str]) -> str:
    """The meaning cell, with a unit or values cell in brackets when the table has one."""
    meaning = _plain(cells[-1])
    extras = [
        _plain(cell)
        for title, cell in zip(header[1:-1], cells[1:-1], strict=True)
        if title in ("unit", "unit / values") and _plain(cell)
    ]
    return f"{meaning} [{'; '.join(extras)}]" if extras else meaning


@lru_cache(maxsize=1)
def documented_objects() -> dict[str, ObjectDoc]:
    """Every object of section 2 of the guide with its description and column descriptions."""
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    overview = {
        _NAME.findall(cells[0])[0]: _plain(cells[2])
        for line in lines
        if line.startswith("| `") and len(cells := _cells(line)) == 3 and cells[1] in ("view", "table")
    }
    objects: dict[str, ObjectDoc] = {}
    lineage: dict[str, str] = {}
    section: list[str] | None = None  # objects of the current section; [] in 2.1 (lineage)
    header: list[str] = []
    for line in lines:
        if line.startswith("## "):
            section = None
        if match := _SECTION.match(line):
            number, title = match.groups()
            section = [] if number == LINEAGE_SECTION else _NAME.findall(title.split("—")[0])
            for name in section:
                objects.setdefault(name, ObjectDoc(name, overview.get(name, "")))
            continue
        if section is None or not line.startswith("|"):
            header = []
            continue
        cells = _cells(line)
        if not header:
            header = [_plain(cell) for cell in cells]
            continue
        if header[0] != "column" or set("".join(cells)) <= set("-: "):
            continue
        meaning = _meaning(cells, header)
        for owner, column, suffix in _column_names(cells[0]):
            if suffix:
                meaning = f"{SUFFIXES[suffix]} of {column.removesuffix(suffix)}: {_meaning(cells, header)}"
            if not section:
                lineage[column] = meaning
            elif meaning.startswith("lineage"):
                for name in section:
                    objects[name].columns[column] = lineage[column]
            else:
                for name in [owner] if owner else section:
                    objects[name].columns[column] = meaning
    return objects


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_comments(connection: Connection) -> None:
    """COMMENT ON every documented table, view and column, in both schemas (PostgreSQL)."""
    present = connection.exec_driver_sql(
        "SELECT n.nspname, c.relname, c.relkind, a.attname FROM pg_class AS c"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        f" WHERE n.nspname IN ('{PERSONAL_SCHEMA}', '{REPORTING_SCHEMA}') AND c.relkind IN ('r', 'v', 'p')"
    ).all()
    docs = documented_objects()
    kinds: dict[tuple[str, str], str] = {}
    for schema, relation, kind, column in present:
        kinds[(schema, relation)] = "VIEW" if kind == "v" else "TABLE"
        doc = docs.get(relation)
        if doc and column in doc.columns:
            connection.exec_driver_sql(
                f'COMMENT ON COLUMN {schema}."{relation}"."{column}" IS {_literal(doc.columns[column])}'
            )
    for (schema, relation), kind in kinds.items():
        doc = docs.get(relation)
        if doc and doc.description:
            connection.exec_driver_sql(f'COMMENT ON {kind} {schema}."{relation}" IS {_literal(doc.description)}')
