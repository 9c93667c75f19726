"""Suspected duplicate identities: accuracy on generated truth, Persian variants, near misses,
refused rows, the cluster guard, cost growth, and input read from a real warehouse."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from etl.config import Settings
from etl.match import (
    DEFAULT_MAX_CLUSTER,
    ClusterTooLarge,
    MatchResult,
    find_suspected_duplicates,
    id_fix,
    read_match_inputs,
)
from etl.matching import model as models
from etl.matching import prepare
from etl.national_id import is_valid_national_id
from etl.persian import name_key
from etl.pipeline import run
from etl.sample import build_plan, check_digit
from etl.sample_people import People, generate_people, score
from etl.warehouse import create_warehouse_engine

SIZES = (2_000, 20_000)


@pytest.fixture(scope="module")
def runs() -> dict[int, tuple[People, MatchResult]]:
    """Generated people at two sizes, matched with the shipped model."""
    found = {}
    for n in SIZES:
        people = generate_people(n, seed=7)
        found[n] = (people, find_suspected_duplicates(people.persons, people.refused))
    return found


@pytest.fixture(scope="module")
def crowd() -> pd.DataFrame:
    """Two thousand generated people to stand around hand-made cases."""
    return generate_people(2_000, seed=11).persons.drop(columns="individual")


def national_id(body: str) -> str:
    """A valid national ID from nine digits."""
    return body + str(check_digit(body))


def national_ids(count: int, seed: int) -> list[str]:
    """``count`` valid national IDs far apart from each other (no two a slip or two away)."""
    rng = random.Random(seed)
    return [national_id(f"{rng.randrange(10**9):09d}") for _ in range(count)]


def row(
    nid: str,
    first: str,
    last: str,
    father: str | None,
    birth: str | None,
    mobile: str | None = None,
    county: str = "ساری",
    province: str = "IR-02",
) -> dict:
    return {
        "record_id": f"hand-{nid}",
        "national_id": nid,
        "first_name": first,
        "last_name": last,
        "father_name": father,
        "birth_date": birth,
        "mobile": mobile,
        "county": county,
        "province_code": province,
    }


def pairs_among(result: MatchResult, ids: set[str]) -> set[tuple[str, str]]:
    pairs = result.pairs
    mask = pairs["national_id_l"].isin(ids) | pairs["national_id_r"].isin(ids)
    return set(zip(pairs.loc[mask, "national_id_l"], pairs.loc[mask, "national_id_r"], strict=True))


# --------------------------------------------------------------------------- generated truth


@pytest.mark.parametrize("n", SIZES)
def test_precision_and_recall_on_generated_truth(runs, n):
    people, result = runs[n]
    figures = score(result, people)
    assert figures["precision"] >= 0.95, figures
    assert figures["recall"] >= 0.90, figures
    assert figures["link_precision"] >= 0.95, figures
    assert figures["link_recall"] >= 0.90, figures
    assert figures["near_misses_paired"] <= 0.02 * len(people.near_misses), figures
    assert 2 <= result.largest_cluster <= DEFAULT_MAX_CLUSTER
    assert result.comparisons > 0 and result.refused_comparisons > 0


def test_comparisons_grow_near_linearly(runs):
    (small_people, small), (large_people, large) = (runs[n] for n in SIZES)
    growth = len(large_people.persons) / len(small_people.persons)
    assert large.comparisons / small.comparisons <= 2 * growth  # linear: 10x; quadratic: 100x
    assert large.comparisons <= len(large_people.persons)
    assert large.refused_comparisons / small.refused_comparisons <= 2 * growth**1.5


def test_a_placeholder_value_shared_by_many_blocks_nobody(crowd):
    many = pd.DataFrame(
        [row(nid, f"نام{i}", f"فامیل{i}", None, None, "09120000000") for i, nid in enumerate(national_ids(300, 4))]
    )
    keys = prepare.persons_keys(pd.concat([crowd, many], ignore_index=True))
    con = models.connection()
    prepare.load_table(con, "persons", keys, persons=True)
    shared = con.execute("SELECT count(bk_mobile) FROM persons WHERE mobile = '09120000000'").fetchone()[0]
    con.close()
    assert shared == 0
    result = find_suspected_duplicates(pd.concat([crowd, many], ignore_index=True))
    assert not pairs_among(result, set(many["national_id"]))


def test_same_input_same_result(crowd):
    first, second = find_suspected_duplicates(crowd), find_suspected_duplicates(crowd)
    pd.testing.assert_frame_equal(first.pairs, second.pairs)
    pd.testing.assert_frame_equal(first.clusters, second.clusters)
    assert first.comparisons == second.comparisons


# --------------------------------------------------------------------------- hand-made cases


def test_persian_spelling_variants_are_one_name():
    assert name_key("عبد الله") == name_key("عبدالله") == name_key("عبد\u200cالله")
    assert name_key("كريمي") == name_key("کریمی")
    assert name_key("نیک‌نام") == name_key("نيك نام") == name_key("نیکنام")
    assert name_key("رضائی") == name_key("رضائي") == name_key("رضایی")
    assert name_key("آزاده") == name_key("ازاده")
    assert name_key("علی") != name_key("علیرضا")


def test_birth_dates_are_keyed_as_the_contract_reads_them():
    """A refused row keeps its date as sent: a Jalali year with dashes is still Jalali, and the
    warehouse's ISO dates, date objects and a time after the day give the same keys."""
    sent = pd.DataFrame(
        {
            "refused_id": ["a", "b", "c", "d", "e", "f"],
            "national_id": ["123"] * 6,
            "first_name": ["علی"] * 6,
            "last_name": ["احمدی"] * 6,
            "birth_date": ["1365-05-12", "1365/5/12", "1986-08-03", "1986-08-03 00:00:00", "۱۳۶۵/۰۵/۱۲", "1365/12/30"],
        }
    )
    keys = prepare.refused_keys(sent)
    assert keys["birth_date"].tolist() == ["1986-08-03"] * 5 + [None]  # 1365 is not a leap year
    assert keys["birth_jalali"].tolist() == ["1365-05-12"] * 5 + [None]
    persons = pd.DataFrame(
        {
            "national_id": ["0012345679"],
            "first_name": ["علی"],
            "last_name": ["احمدی"],
            "birth_date": [dt.date(1986, 8, 3)],
        }
    )
    assert prepare.persons_keys(persons)[["birth_date", "birth_jalali"]].iloc[0].tolist() == [
        "1986-08-03",
        "1365-05-12",
    ]


def test_persian_variants_of_one_person_are_paired(crowd):
    a, b, c, d = national_ids(4, seed=1)
    hand = pd.DataFrame(
        [
            row(a, "عبدالله", "نیک‌نام", "محمد علی", "1986-07-03", "09121234567"),
            row(b, "عبد الله", "نيك نام", "محمدعلي", "1986-07-03", None, "بوشهر", "IR-18"),
            row(c, "علی‌رضا", "كاظمي", "يوسف", "1979-03-21", "09351112233", "رشت", "IR-01"),
            row(d, "علیرضا", "کاظمی", "یوسف", "1979-03-21", "09351112233", "تبریز", "IR-03"),
        ]
    )
    result = find_suspected_duplicates(pd.concat([crowd, hand], ignore_index=True))
    assert pairs_among(result, {a, b, c, d}) == {tuple(sorted((a, b))), tuple(sorted((c, d)))}
    pair = result.pairs[result.pairs["national_id_l"] == min(a, b)].iloc[0]
    assert {"first_name", "last_name", "father_name", "birth_date"} <= set(pair["agreeing"].split(", "))
    assert {pair["province_l"], pair["province_r"]} == {"IR-02", "IR-18"}
    assert pair["cluster_id"] == min(a, b)


def test_twins_and_namesakes_are_not_paired(crowd):
    ids = national_ids(8, seed=2)
    hand = pd.DataFrame(
        [
            # twins: same last name, father, birth date, county and mobile; first names alike
            row(ids[0], "حسن", "کریمی", "علی", "1990-05-05", "09131110000"),
            row(ids[1], "حسین", "کریمی", "علی", "1990-05-05", "09131110000"),
            row(ids[2], "زهرا", "موسوی", "جواد", "1995-01-10", "09132220000"),
            row(ids[3], "زهره", "موسوی", "جواد", "1995-01-10", None),
            # namesakes: same names and father, born years apart; same names and day, other father
            row(ids[4], "محمد", "احمدی", "علی", "1980-01-01", "09133330000"),
            row(ids[5], "محمد", "احمدی", "علی", "1986-06-06", "09134440000"),
            row(ids[6], "فاطمه", "رضایی", "حسن", "1975-02-02", None),
            row(ids[7], "فاطمه", "رضایی", "رضا", "1975-02-02", None),
        ]
    )
    result = find_suspected_duplicates(pd.concat([crowd, hand], ignore_index=True))
    assert pairs_among(result, set(ids)) == set()


def test_refused_rows_name_the_likely_person(crowd):
    nid = national_id("153719286")
    sent_swapped = nid[:3] + nid[4] + nid[3] + nid[5:]
    sent_dropped = nid[:6] + nid[7:]
    assert not is_valid_national_id(sent_swapped) and not is_valid_national_id(sent_dropped.zfill(10))
    persons = pd.concat(
        [crowd, pd.DataFrame([row(nid, "سکینه", "طاهری", "قاسم", "1968-09-01", "09171234567")])],
        ignore_index=True,
    )
    refused = pd.DataFrame(
        [
            {
                "file_id": 7,
                "line_number": 12,
                "province_code": "IR-02",
                "source": "applicants",
                "national_id": sent_swapped,
                "first_name": "سكينه",
                "last_name": "طاهري",
                "father_name": "قاسم",
                "birth_date": "1347/06/10",
                "mobile": "+989171234567",
                "county": "ساری",
            },
            {
                "file_id": 8,
                "line_number": 3,
                "province_code": "IR-02",
                "source": "loans",
                "national_id": sent_dropped,
                "first_name": "سکینه",
                "last_name": "طاهری",
            },
            {
                "file_id": 8,
                "line_number": 4,
                "province_code": "IR-02",
                "source": "loans",
                "national_id": "8813407725",
                "first_name": "بهاره",
                "last_name": "شاهرخی",
            },
        ]
    )
    result = find_suspected_duplicates(persons, refused)
    links = result.refused_links.set_index("refused_id")
    assert set(links.index) == {"7:12", "8:3"}
    assert links.loc["7:12", "national_id"] == links.loc["8:3", "national_id"] == nid
    assert links.loc["7:12", "id_fix"] == "digits 4 and 5 swapped"
    assert links.loc["8:3", "id_fix"] == f"digit {nid[6]} missing at 7"
    assert links.loc["7:12", "national_id_sent"] == sent_swapped


def test_id_fix_words():
    assert id_fix("0499370989", "0499370899") == "digits 8 and 9 swapped"
    assert id_fix("0499370898", "0499370899") == "digit 10: 8 -> 9"
    assert id_fix("499370899", "0499370899") == "no digit differs"  # only the zero a spreadsheet drops
    assert id_fix("04993570899", "0499370899") == "extra digit 5 at 6"
    assert id_fix("049937899", "0499370899") == "digit 0 missing at 7"
    assert id_fix("1234567890", "0499370899").startswith("another national ID")


def test_the_cluster_guard_trips_on_a_giant_cluster(crowd):
    ids = national_ids(12, seed=3)
    same = pd.DataFrame([row(nid, "مریم", "کرمانی", "حسین", "1970-04-04", "09126665544") for nid in ids])
    persons = pd.concat([crowd, same], ignore_index=True)
    with pytest.raises(ClusterTooLarge) as raised:
        find_suspected_duplicates(persons, max_cluster=8)
    assert raised.value.result.largest_cluster == len(ids)
    result = find_suspected_duplicates(persons, max_cluster=len(ids))
    clusters = result.clusters.set_index("national_id")
    assert set(clusters.loc[ids, "cluster_id"]) == {min(ids)}
    assert set(clusters.loc[ids, "cluster_size"]) == {len(ids)}
    assert result.largest_cluster == len(ids)


def test_a_model_file_of_another_version_is_refused(tmp_path, crowd):
    path = tmp_path / "model.json"
    path.write_text('{"format": "mashaghel-suspected-duplicates", "version": 99}', encoding="utf-8")
    with pytest.raises(models.ModelError):
        find_suspected_duplicates(crowd, model_path=path)


# --------------------------------------------------------------------------- a real warehouse


def test_input_read_from_a_loaded_warehouse(tmp_path, warehouse_url):
    folders = {name: tmp_path / name for name in ("ingest", "archive", "outbox")}
    for folder in folders.values():
        folder.mkdir()
    settings = Settings(
        ingest_root=folders["ingest"],
        archive_root=folders["archive"],
        outbox_root=folders["outbox"],
        warehouse=warehouse_url,
        settle_seconds=0,
    )
    plan = build_plan(persons=0)
    plan.write_batch(settings.ingest_root, 1)
    run(settings)
    truth = plan.truth(after_batch=1)
    engine = create_warehouse_engine(warehouse_url)
    try:
        persons, refused = read_match_inputs(engine)
    finally:
        engine.dispose()
    assert set(persons["national_id"]) <= set(truth["persons"])
    assert persons["record_id"].is_unique and refused["refused_id"].is_unique
    only_id = [
        row
        for f in plan.batch_files(1)
        if truth["files"][f.rel]["status"] == "loaded_with_rejections"
        for row in f.rows
        if row.reasons == ("invalid_national_id",)
    ]
    assert len(refused) == len(only_id) > 0
    result = find_suspected_duplicates(persons, refused)
    expected = {(p["national_id_l"], p["national_id_r"]) for p in truth["suspected_duplicates"]}
    assert set(zip(result.pairs["national_id_l"], result.pairs["national_id_r"], strict=True)) == expected
    named = result.refused_links.merge(refused[["refused_id", "file_name"]], on="refused_id")
    links = {
        (name, int(line), nid)
        for name, line, nid in zip(named["file_name"], named["line_number"], named["national_id"], strict=True)
    }
    assert links == {
        (link["file"].rsplit("/", 1)[1], link["line_number"], link["national_id"])
        for link in truth["suspected_refused_links"]
    }
