"""An incremental match in the warehouse scores what a full match in memory scores.

Generated identities with known duplicates (etl.sample_people) stand in for the records: the
warehouse's identity and refused rows are replaced by them, so that the keys, the neighbourhood
read from the warehouse, the passes, the caps and the global prior and name frequencies are
exercised as in production and compared with :func:`etl.match.find_suspected_duplicates`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from etl import warehouse
from etl.match import find_suspected_duplicates
from etl.matching import incremental
from etl.sample_people import generate_people
from etl.suspects import match_suspects
from etl.warehouse import create_warehouse_engine, migrate


class Records:
    """What the warehouse's records say: identity rows and refused rows, as the matcher reads them."""

    def __init__(self, persons: pd.DataFrame, refused: pd.DataFrame) -> None:
        self.persons, self.refused = persons, refused

    def identity_chunks(self, connection: sa.Connection, only: str = "", rows: int = 1000) -> Iterator[pd.DataFrame]:
        chosen = connection.exec_driver_sql(f"SELECT national_id FROM match_changed WHERE {only}").scalars().all()
        wanted = self.persons[self.persons["national_id"].isin(chosen)].reset_index(drop=True)
        for start in range(0, len(wanted), rows):
            yield wanted.iloc[start : start + rows].reset_index(drop=True)

    def refused_rows(self, connection: sa.Connection, only: str = "") -> pd.DataFrame:
        keyed = set(connection.exec_driver_sql("SELECT file_id, line_number FROM match_refused").all())
        new = [(f, n) not in keyed for f, n in zip(self.refused["file_id"], self.refused["line_number"], strict=True)]
        return self.refused[new].reset_index(drop=True)


def _pending(engine: sa.Engine, ids: set[str]) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO match_pending (national_id) VALUES (:n)"), [{"n": n} for n in sorted(ids)]
        )


def _stored(engine: sa.Engine) -> tuple[dict, dict]:
    with engine.connect() as connection:
        pairs = {
            (left, right): (p, c)
            for left, right, p, c in connection.exec_driver_sql(
                "SELECT national_id_l, national_id_r, match_probability, cluster_id FROM suspected_duplicate_pair"
            )
        }
        links = {
            (f, n): (nid, p)
            for f, n, nid, p in connection.exec_driver_sql(
                "SELECT file_id, line_number, national_id, match_probability FROM suspected_id_typo"
            )
        }
    return pairs, links


def _full(persons: pd.DataFrame, refused: pd.DataFrame) -> tuple[dict, dict]:
    result = find_suspected_duplicates(persons, refused)
    pairs = {
        (row.national_id_l, row.national_id_r): (row.match_probability, row.cluster_id)
        for row in result.pairs.itertuples()
    }
    links = {
        (int(row.file_id), int(row.line_number)): (row.national_id, row.match_probability)
        for row in result.refused_links.itertuples()
    }
    return pairs, links


def _same(stored: dict, full: dict) -> None:
    assert stored.keys() == full.keys()
    for key, (value, other) in full.items():
        assert stored[key][0] == pytest.approx(value, abs=1e-9), key
        assert stored[key][1] == other, key


def test_an_incremental_match_scores_what_a_full_match_scores(warehouse_url, monkeypatch):
    people = generate_people(3000, seed=11)
    ids = sorted(people.persons["national_id"].unique())
    first = set(ids[: len(ids) * 7 // 10])
    # A refused row of the first half whose person comes later, and meanwhile a lookalike of that
    # person (another ID, another first name): the row is linked to the lookalike first, and must
    # move to its person when the person arrives.
    half = people.refused.iloc[: len(people.refused) // 2]
    moving = half[~half["true_national_id"].isin(first) & half["true_record_id"].notna()].iloc[0]
    person = people.persons[people.persons["record_id"] == moving["true_record_id"]].iloc[0]
    lookalike_id = person["national_id"][:-2] + ("00" if person["national_id"][-2:] != "00" else "11")
    lookalike = person.copy()
    lookalike["record_id"], lookalike["national_id"] = "lookalike", lookalike_id
    lookalike["first_name"] = person["first_name"] + "ه"
    persons = pd.concat([people.persons, lookalike.to_frame().T], ignore_index=True).drop(columns=["individual"])
    first.add(lookalike_id)
    ids = sorted(persons["national_id"].unique())
    refused = people.refused.drop(columns=["true_national_id", "true_record_id"])
    moving_row = (int(moving["file_id"]), int(moving["line_number"]))
    records = Records(persons[persons["national_id"].isin(first)], refused.iloc[: len(refused) // 2])
    monkeypatch.setattr(incremental, "identity_chunks", records.identity_chunks)
    monkeypatch.setattr(incremental, "refused_rows", records.refused_rows)
    engine = create_warehouse_engine(warehouse_url)
    try:
        migrate(engine)
        # Everyone new, in several passes: exactly the full match of the same rows. (The key table's
        # indexes are dropped and built again after it is written, as for a national first run.)
        monkeypatch.setattr(warehouse, "REBUILD_ROWS", 1)
        monkeypatch.setattr(incremental, "KEY_CHUNK_ROWS", 300)  # the keys refreshed in several chunks
        _pending(engine, first)
        figures = match_suspects(engine, ids_per_pass=400)
        assert figures["published"] and figures["passes"] == -(-len(first) // 400)
        stored_pairs, stored_links = _stored(engine)
        full_pairs, full_links = _full(records.persons, records.refused)
        assert len(full_pairs) > 20 and len(full_links) > 5
        _same(stored_pairs, full_pairs)
        assert stored_links == full_links
        assert stored_links[moving_row][0] == lookalike_id

        # The rest arrive, and a few known persons change their last name: only pairs with a changed
        # side are scored again, and those get exactly the full match's scores. (The first step counted
        # the blocks of every row in DuckDB; this one finds the neighbours' blocks in the warehouse.)
        monkeypatch.setattr(incremental, "BROAD_SHARE", 1.0)
        changed_names = set(ids[:40])
        everyone = persons.copy()
        moved = everyone["national_id"].isin(changed_names)
        everyone.loc[moved, "last_name"] = everyone.loc[moved, "last_name"] + "ی"
        records.persons, records.refused = everyone, refused
        changed = (set(ids) - first) | changed_names
        _pending(engine, changed)
        figures = match_suspects(engine, ids_per_pass=500)
        assert figures["published"] and figures["recomputed_ids"] == len(changed)
        assert figures["comparisons"] > 0
        stored_pairs, stored_links = _stored(engine)
        full_pairs, full_links = _full(everyone, refused)
        touched = {key for key in full_pairs.keys() | stored_pairs.keys() if set(key) & changed}
        _same(
            {k: v for k, v in stored_pairs.items() if k in touched},
            {k: v for k, v in full_pairs.items() if k in touched},
        )
        # Untouched pairs keep their scores: the same pairs unless the growth of the warehouse moved one
        # across the threshold, and probabilities that moved little.
        untouched = {k: v for k, v in stored_pairs.items() if k not in touched}
        assert untouched, "the first half's pairs stay"
        for key, (probability, _) in untouched.items():
            assert key in full_pairs or probability < 0.7, key
            if key in full_pairs:
                assert abs(full_pairs[key][0] - probability) < 0.2, key
        new_rows = {
            (int(f), int(n))
            for f, n in zip(
                refused["file_id"].iloc[len(refused) // 2 :],
                refused["line_number"].iloc[len(refused) // 2 :],
                strict=True,
            )
        }
        assert {k: v for k, v in stored_links.items() if k in new_rows} == {
            k: v for k, v in full_links.items() if k in new_rows
        }
        assert {k: v[0] for k, v in stored_links.items()} == {k: v[0] for k, v in full_links.items()}
        assert stored_links[moving_row][0] == person["national_id"]
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT COUNT(*) FROM match_pending").scalar_one() == 0
            keyed = connection.exec_driver_sql("SELECT COUNT(*) FROM match_identity").scalar_one()
        assert keyed == len(everyone)

        # Nothing pending, nothing new: nothing is scored or written.
        runs = _runs(engine)
        assert match_suspects(engine)["recomputed_ids"] == 0
        assert _runs(engine) == runs and _stored(engine) == (stored_pairs, stored_links)
    finally:
        engine.dispose()


def _runs(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT COUNT(*) FROM match_run").scalar_one()
