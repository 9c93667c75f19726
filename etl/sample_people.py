"""People with a known truth, at any scale, for matching tests, training and the benchmark.

``generate_people(n)`` returns ``n`` identity rows (national ID plus personal details, the
frame :func:`etl.match.find_suspected_duplicates` reads), refused rows whose national ID was
mistyped, and the truth: which rows are one human being.

What is planted (rates are shares of ``n``):

- second IDs (2 %, a tenth of them with a third): the same human registered again under another
  valid national ID, usually in another province, with the slips a clerk makes: Arabic ي/ك,
  spacing and ZWNJ in compound names («عبد الله» / «عبدالله»), a one-letter typo, a Jalali
  birth date with one digit wrong or day and month swapped, a new or missing mobile, a missing
  father's name. One second ID in five is two digits away from the first and still valid.
- borrowed IDs (0.4 %): a person registers with a relative's national ID, under their own name,
  birth date and mobile. The relative is a sibling (same last name and father, other first name
  and birth date) who registered under that ID too. The ID then carries two identities; the true
  pair is (borrower's own ID, relative's ID). A registration that copies the relative's whole
  identity cannot be told from the relative and is not planted.
- refused rows (1 %): a row refused for ``invalid_national_id`` because one digit was mistyped,
  two neighbours swapped, a digit dropped, doubled or added. Four in five belong to a loaded
  person (the truth names them); one in five to someone never loaded, which must stay unlinked.
- near misses that are different people: twins (same last name, father, birth date, province,
  often the mobile; other first names) and namesakes (same first, last and father's name,
  another birth date; or same names and birth date with another father).

Everything is drawn with numpy from one seed, so a million rows take seconds and the same seed
gives the same frames.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date
from itertools import combinations

import numpy as np
import pandas as pd

from etl.national_id import clean_national_id, is_valid_national_id
from etl.sample import FIRST_F, FIRST_M, LAST, load_provinces

ZWNJ = "\u200c"
FIRST_F_MORE = (
    "فاطمه زهرا", "زینب", "اعظم", "طاهره", "منیژه", "شهلا", "آزاده", "الهام", "سمیرا", "نسرین",
    "پروانه", "هاجر", "ملیکا", "سارا", "حدیث", "ریحانه", "آمنه", "خدیجه", "صغری", "مهناز",
)  # fmt: skip
FIRST_M_MORE = (
    "محمد علی", "علی رضا", "امیر حسین", "محمد رضا", "عبد الرضا", "عباس", "اکبر", "اصغر", "حمید",
    "سعید", "مجید", "ابراهیم", "اسماعیل", "مصطفی", "مرتضی", "غلامرضا", "نادر", "بهروز", "قاسم", "صادق",
)  # fmt: skip
SURNAME_ROOTS = (
    "نیک", "پاک", "شاه", "کوه", "دل", "مهر", "نور", "بهار", "آزاد", "امین", "رحیم", "کریم",
    "صالح", "جهان", "خسرو", "فرهاد", "بهرام", "اسد", "باقر", "صفر", "رمضان", "ملک", "قربان", "زمان",
)  # fmt: skip
SURNAME_SUFFIXES = ("ی", "زاده", "پور", "نژاد", "نیا", "فر", "راد", "منش", "دوست", "وند", "لو", "یان")
HOMOPHONES = {"س": "ص", "ص": "س", "ث": "س", "ز": "ذ", "ذ": "ز", "ت": "ط", "ط": "ت", "ح": "ه", "ه": "ح", "ق": "غ"}
# Names twins get that look alike but are two names (all in etl/models/given_names.txt).
TWIN_NAMES_M = (("حسن", "حسین"), ("محمد", "محمود"), ("حامد", "حمید"), ("علی", "علیرضا"))
TWIN_NAMES_F = (("زهرا", "زهره"), ("لیلا", "لیلی"), ("یاسمن", "یاسمین"), ("سمیرا", "سمیه"))
MOBILE_PREFIXES = ("0912", "0913", "0919", "0935", "0936", "0901", "0903", "0990", "0917", "0915")
BIRTH_FIRST = date(1955, 1, 1).toordinal()
BIRTH_LAST = date(2006, 12, 31).toordinal()

PERSON_COLUMNS = (
    "record_id", "national_id", "first_name", "last_name", "father_name", "gender",
    "birth_date", "mobile", "county", "province_code",
)  # fmt: skip
REFUSED_COLUMNS = (
    "refused_id", "file_id", "line_number", "province_code", "source", "national_id",
    "first_name", "last_name", "father_name", "birth_date", "mobile", "county",
)  # fmt: skip


@dataclass
class People:
    """Generated identities and their truth.

    ``persons`` has :data:`PERSON_COLUMNS` plus ``individual`` (the true human being);
    ``refused`` has :data:`REFUSED_COLUMNS` plus ``true_national_id`` and ``true_record_id``
    (missing for someone never loaded); ``near_misses`` lists pairs of IDs of different people that look alike (``kind``
    twins or namesakes).
    """

    persons: pd.DataFrame
    refused: pd.DataFrame
    near_misses: pd.DataFrame

    def true_pairs(self) -> set[tuple[str, str]]:
        """Pairs of distinct national IDs used by one human being (smaller ID first)."""
        used = self.persons[["individual", "national_id"]].drop_duplicates()
        used = used[used["individual"].duplicated(keep=False)].sort_values(["individual", "national_id"])
        pairs: set[tuple[str, str]] = set()
        for _, nids in used.groupby("individual")["national_id"]:
            pairs.update(combinations(nids.tolist(), 2))
        return pairs

    def true_links(self) -> dict[str, str]:
        """Refused row id -> the national ID of the loaded person it belongs to."""
        known = self.refused.dropna(subset=["true_national_id"])
        return dict(zip(known["refused_id"], known["true_national_id"], strict=True))


def surnames() -> list[str]:
    """About a thousand surnames: the sample list, and roots with the usual endings."""
    roots = [*SURNAME_ROOTS, *(n for n in FIRST_M if " " not in n), *(p.center_fa for p in load_provinces())]
    names = list(LAST)
    for root in roots:
        for suffix in SURNAME_SUFFIXES:
            if suffix == "ی" and root[-1] in "یه":
                continue
            joiner = "" if suffix in ("ی", "یان") else ZWNJ if root[-1] not in "ادذرزژو" else ""
            names.append(root + joiner + suffix)
    return list(dict.fromkeys(names))


def _zipf(count: int, offset: float) -> np.ndarray:
    weights = 1.0 / (np.arange(count) + offset)
    return weights / weights.sum()


class _Draw:
    """Vectorised draws of personal details from one generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.first_f = np.array([*FIRST_F, *FIRST_F_MORE], dtype=object)
        self.first_m = np.array([*FIRST_M, *FIRST_M_MORE], dtype=object)
        self.p_f, self.p_m = _zipf(len(self.first_f), 3), _zipf(len(self.first_m), 3)
        names = surnames()
        self.last = np.array(names, dtype=object)[rng.permutation(len(names))]
        self.p_last = _zipf(len(self.last), 12)
        provinces = load_provinces()
        self.provinces = np.array([p.code for p in provinces], dtype=object)
        self.centers = np.array([p.center_fa for p in provinces], dtype=object)
        # Each province issues IDs from a few three-digit office codes of its own.
        codes = rng.permutation(1000)[: len(provinces) * 8]
        self.office = codes.reshape(len(provinces), 8)

    def first(self, female: np.ndarray) -> np.ndarray:
        n = len(female)
        out = np.where(
            female,
            self.rng.choice(self.first_f, size=n, p=self.p_f),
            self.rng.choice(self.first_m, size=n, p=self.p_m),
        )
        return out.astype(object)

    def people(self, n: int) -> dict[str, np.ndarray]:
        """``n`` unrelated people: names, gender, birth ordinal, mobile, province index."""
        rng = self.rng
        female = rng.random(n) < 0.6
        birth = rng.integers(BIRTH_FIRST, BIRTH_LAST + 1, size=n)
        return {
            "female": female,
            "first": self.first(female),
            "last": rng.choice(self.last, size=n, p=self.p_last).astype(object),
            "father": rng.choice(self.first_m, size=n, p=self.p_m).astype(object),
            "birth": np.where(rng.random(n) < 0.02, 0, birth),
            "mobile": self.mobiles(n, missing=0.1),
            "province": rng.integers(0, len(self.provinces), size=n),
        }

    def mobiles(self, n: int, missing: float) -> np.ndarray:
        prefix = self.rng.choice(np.array(MOBILE_PREFIXES, dtype=object), size=n)
        body = np.char.zfill(self.rng.integers(0, 10**7, size=n).astype(str), 7).astype(object)
        return np.where(self.rng.random(n) < missing, None, prefix + body)

    def national_ids(self, province: np.ndarray, taken: set[str]) -> np.ndarray:
        """A fresh valid national ID per row, from an office code of the row's province."""
        rng = self.rng
        out = np.empty(len(province), dtype=object)
        todo = np.arange(len(province))
        while len(todo):
            office = self.office[province[todo], rng.integers(0, 8, size=len(todo))]
            body = office * 10**6 + rng.integers(0, 10**6, size=len(todo))
            digits = (body[:, None] // 10 ** np.arange(8, -1, -1)) % 10
            remainder = (digits * np.arange(10, 1, -1)).sum(axis=1) % 11
            check = np.where(remainder < 2, remainder, 11 - remainder)
            text = np.char.add(np.char.zfill(body.astype(str), 9), check.astype(str))
            fresh = np.zeros(len(todo), dtype=bool)
            for i, nid in enumerate(text.tolist()):
                if nid not in taken and len(set(nid)) > 1:
                    taken.add(nid)
                    fresh[i] = True
            out[todo[fresh]] = text[fresh].astype(object)
            todo = todo[~fresh]
        return out


# --------------------------------------------------------------------------- slips of the pen


def spelling_variant(name: str, rng: np.random.Generator) -> str:
    """The same name as another clerk writes it: Arabic letters, or other spacing and ZWNJ."""
    r = rng.random()
    if r < 0.4 and ("ی" in name or "ک" in name):
        return name.replace("ی", "ي").replace("ک", "ك")
    if " " in name or ZWNJ in name:
        parts = name.replace(ZWNJ, " ").split(" ")
        return rng.choice(np.array(["", ZWNJ, " ", "  "], dtype=object)).join(parts)
    if name.startswith("عبد") and len(name) > 4:
        return "عبد " + name[3:]
    if name.startswith("محمد") and len(name) > 5:
        return "محمد " + name[4:]
    return name.replace("ی", "ي") if "ی" in name else f" {name} "


def typo(name: str, rng: np.random.Generator) -> str:
    """One letter written as a letter that sounds the same, doubled, or (in longer names) dropped."""
    spots = [i for i, ch in enumerate(name) if ch in HOMOPHONES]
    if spots and rng.random() < 0.6:
        i = int(rng.choice(spots))
        return name[:i] + HOMOPHONES[name[i]] + name[i + 1 :]
    letters = [i for i, ch in enumerate(name) if ch not in (" ", ZWNJ)]
    i = int(rng.choice(letters[1:])) if len(letters) > 2 else len(name) - 1
    if len(letters) > 3 and rng.random() < 0.5:  # a short name loses no letter: it would be another name
        return name[:i] + name[i + 1 :]
    return name[:i] + name[i] + name[i:]


def jalali_slip(ordinal: int, rng: np.random.Generator) -> int:
    """A birth date as a clerk mistypes it in Jalali: one digit of day or month, or the two swapped."""
    import jdatetime

    j = jdatetime.date.fromgregorian(date=date.fromordinal(ordinal))
    for _ in range(20):
        y, m, d = j.year, j.month, j.day
        r = rng.random()
        if r < 0.35 and d <= 12 and d != m:
            m, d = d, m
        elif r < 0.7:
            d = int(str(d).zfill(2)[0] + str(rng.integers(0, 10))) or 1
        elif r < 0.85:
            m = int(rng.integers(1, 13))
        else:
            y = y - 10 if rng.random() < 0.5 else y + 1
        try:
            slipped = jdatetime.date(y, m, d).togregorian().toordinal()
        except ValueError:
            continue
        if slipped != ordinal:
            return slipped
    return ordinal + 1


def nearby_valid_id(nid: str, rng: np.random.Generator, taken: set[str]) -> str | None:
    """A different valid, unused ID two digits away from ``nid`` (two slips that pass the check)."""
    for _ in range(200):
        i, j = sorted(rng.choice(9, size=2, replace=False))
        body = list(nid[:9])
        body[i] = str((int(body[i]) + int(rng.integers(1, 10))) % 10)
        body[j] = str((int(body[j]) + int(rng.integers(1, 10))) % 10)
        candidate = "".join(body) + nid[9]
        if is_valid_national_id(candidate) and candidate not in taken:
            taken.add(candidate)
            return candidate
    return None


def mistype_id(nid: str, rng: np.random.Generator) -> str:
    """``nid`` as mistyped in a refused row: the pipeline must refuse the result."""
    for _ in range(100):
        r = rng.random()
        digits = list(nid)
        if r < 0.5:  # one digit wrong
            i = int(rng.integers(0, 10))
            digits[i] = str((int(digits[i]) + int(rng.integers(1, 10))) % 10)
        elif r < 0.8:  # two neighbours swapped
            i = int(rng.integers(0, 9))
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
        elif r < 0.9:  # a digit dropped
            del digits[int(rng.integers(1, 10))]
        elif r < 0.95:  # a digit doubled
            i = int(rng.integers(0, 10))
            digits.insert(i, digits[i])
        else:  # a stray digit added
            digits.insert(int(rng.integers(0, 11)), str(rng.integers(0, 10)))
        sent = "".join(digits)
        if sent != nid and not is_valid_national_id(clean_national_id(sent)):
            return sent
    raise AssertionError(f"no refused spelling of {nid}")


# --------------------------------------------------------------------------- the generator


def _iso(ordinals: np.ndarray) -> np.ndarray:
    """ISO date text of day ordinals (0 is missing)."""
    out = np.full(len(ordinals), None, dtype=object)
    known = ordinals > 0
    epoch = date(1970, 1, 1).toordinal()
    days = (ordinals[known] - epoch).astype("datetime64[D]")
    out[known] = days.astype(str).astype(object)
    return out


def generate_people(
    n: int,
    seed: int = 1404,
    *,
    second_ids: float = 0.02,
    borrowed: float = 0.004,
    refused: float = 0.01,
    twins: float = 0.004,
    namesakes: float = 0.004,
) -> People:
    """``n`` identity rows with planted duplicates, refused rows and near misses (see module doc)."""
    rng = np.random.default_rng(seed)
    draw = _Draw(rng)
    n_dup = round(n * second_ids)
    n_third = round(n_dup * 0.1)
    n_borrow, n_twin, n_name = round(n * borrowed), round(n * twins), round(n * namesakes)
    n_base = n - n_dup - n_third - 2 * n_borrow - n_twin - n_name
    if n_base < 4 * (n_dup + n_borrow + n_twin + n_name):
        raise ValueError("n is too small for the planted shares")

    base = draw.people(n_base)
    picks = rng.permutation(n_base)
    dup_of, picks = picks[:n_dup], picks[n_dup:]
    borrower, picks = picks[:n_borrow], picks[n_borrow:]
    twin_of, picks = picks[:n_twin], picks[n_twin:]
    namesake_of = picks[:n_name]

    def related(of: np.ndarray, keep: tuple[str, ...]) -> dict[str, np.ndarray]:
        other = draw.people(len(of))
        for column in keep:
            other[column] = base[column][of].copy()
        return other

    # Twins: same last name, father, birth date, province, often the mobile; another first name.
    twin = related(twin_of, ("last", "father", "birth", "province"))
    shared = rng.random(n_twin) < 0.3
    twin["mobile"][shared] = base["mobile"][twin_of][shared]
    # Siblings whose IDs are borrowed: same last name, father and province, born years apart.
    sibling = related(borrower, ("last", "father", "province"))
    gap = rng.integers(2 * 365, 12 * 365, size=n_borrow) * rng.choice([-1, 1], size=n_borrow)
    sibling["birth"] = np.where(base["birth"][borrower] > 0, base["birth"][borrower] + gap, sibling["birth"])
    # Namesakes: same first, last and father's name, born in another year; three in ten share the
    # birth date and names but have another father.
    namesake = related(namesake_of, ("female", "first", "last", "father", "province"))
    same_day = rng.random(n_name) < 0.3
    namesake["birth"] = np.where(
        same_day, base["birth"][namesake_of], base["birth"][namesake_of] + rng.integers(400, 5000, size=n_name)
    )
    namesake["birth"] = np.where(base["birth"][namesake_of] > 0, namesake["birth"], 0)
    for group, of in ((twin, twin_of), (sibling, borrower), (namesake, namesake_of)):
        for k in range(len(of)):  # another first name (twins, siblings) or another father (same day)
            column = "father" if group is namesake else "first"
            if group is namesake and not same_day[k]:
                continue
            while group[column][k] == base[column][of[k]]:
                pool = draw.first_m if column == "father" or not group["female"][k] else draw.first_f
                group[column][k] = pool[rng.integers(0, len(pool))]

    # Four twins in ten get names that look alike but are two names («حسن» and «حسین»).
    for k in np.flatnonzero(rng.random(n_twin) < 0.4):
        female = bool(base["female"][twin_of[k]])
        pairs = TWIN_NAMES_F if female else TWIN_NAMES_M
        base["first"][twin_of[k]], twin["first"][k] = pairs[int(rng.integers(0, len(pairs)))]
        twin["female"][k] = female
    people = {c: np.concatenate([base[c], twin[c], sibling[c], namesake[c]]) for c in base}
    count = len(people["first"])
    individual = np.arange(count)
    taken: set[str] = set()
    nids = draw.national_ids(people["province"], taken)
    rows = pd.DataFrame(
        {
            "individual": individual,
            "national_id": nids,
            "first_name": people["first"],
            "last_name": people["last"],
            "father_name": people["father"],
            "gender": np.where(people["female"], "female", "male"),
            "birth": people["birth"],
            "mobile": people["mobile"],
            "province": people["province"],
        }
    )

    # Second (and third) IDs, and the borrowers' own details under their siblings' IDs.
    copies = [_second_ids(rows.iloc[dup_of].reset_index(drop=True), rng, draw, taken)]
    copies.append(_second_ids(copies[0].iloc[:n_third].reset_index(drop=True), rng, draw, taken))
    lent = _second_ids(rows.iloc[borrower].reset_index(drop=True), rng, draw, taken, move=False)
    lent["national_id"] = nids[n_base + n_twin + np.arange(n_borrow)]
    rows = pd.concat([rows, *copies, lent], ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)

    persons = pd.DataFrame(
        {
            "record_id": [f"p{i:07d}" for i in range(len(rows))],
            "national_id": rows["national_id"],
            "first_name": rows["first_name"],
            "last_name": rows["last_name"],
            "father_name": rows["father_name"],
            "gender": rows["gender"],
            "birth_date": _iso(rows["birth"].to_numpy()),
            "mobile": rows["mobile"],
            "county": draw.centers[rows["province"].to_numpy()],
            "province_code": draw.provinces[rows["province"].to_numpy()],
            "individual": rows["individual"],
        }
    )
    near = pd.DataFrame(
        {
            "national_id_l": np.concatenate([nids[twin_of], nids[namesake_of]]),
            "national_id_r": np.concatenate(
                [nids[n_base + np.arange(n_twin)], nids[n_base + n_twin + n_borrow + np.arange(n_name)]]
            ),
            "kind": ["twins"] * n_twin + ["namesakes"] * n_name,
        }
    )
    return People(persons, _refused_rows(persons, round(n * refused), rng, draw, taken), near)


def _second_ids(
    rows: pd.DataFrame, rng: np.random.Generator, draw: _Draw, taken: set[str], *, move: bool = True
) -> pd.DataFrame:
    """The same people written again by another clerk, under a new valid ID (``move``: elsewhere)."""
    out = rows.copy()
    n = len(out)
    if move:
        elsewhere = rng.random(n) < 0.7
        out.loc[elsewhere, "province"] = rng.integers(0, len(draw.provinces), size=int(elsewhere.sum()))
        fresh = draw.national_ids(out["province"].to_numpy(), taken)
        out["national_id"] = [
            (nearby_valid_id(old, rng, taken) or new) if rng.random() < 0.2 else new
            for old, new in zip(rows["national_id"], fresh, strict=True)
        ]
    for column, p_variant, p_typo in (("first_name", 0.3, 0.03), ("last_name", 0.3, 0.05), ("father_name", 0.2, 0.03)):
        values = out[column].to_numpy(dtype=object).copy()
        r = rng.random(n)
        for i in np.flatnonzero(r < p_variant + p_typo):
            if not isinstance(values[i], str):
                continue
            values[i] = spelling_variant(values[i], rng) if r[i] < p_variant else typo(values[i], rng)
        out[column] = values
    out.loc[rng.random(n) < 0.1, "father_name"] = None
    birth = out["birth"].to_numpy().copy()
    r = rng.random(n)
    for i in np.flatnonzero((r < 0.1) & (birth > 0)):
        birth[i] = jalali_slip(int(birth[i]), rng)
    birth[(r >= 0.1) & (r < 0.15)] = 0
    out["birth"] = birth
    r = rng.random(n)
    mobile = out["mobile"].to_numpy(dtype=object).copy()
    new = draw.mobiles(n, missing=0.0)
    mobile = np.where(r < 0.35, new, np.where(r < 0.5, None, mobile))
    out["mobile"] = mobile
    return out


def _refused_rows(
    persons: pd.DataFrame, n: int, rng: np.random.Generator, draw: _Draw, taken: set[str]
) -> pd.DataFrame:
    """Rows refused for a mistyped ID: four in five of a loaded person, one in five of nobody loaded."""
    known = n - n // 5
    rows = persons.iloc[rng.choice(len(persons), size=known, replace=False)]
    truth = rows["national_id"].to_numpy(dtype=object)
    truth_record = rows["record_id"].to_numpy(dtype=object)
    rows = rows[list(PERSON_COLUMNS)[1:]].copy()
    strangers = draw.people(n - known)
    others = pd.DataFrame(
        {
            "national_id": draw.national_ids(strangers["province"], taken),
            "first_name": strangers["first"],
            "last_name": strangers["last"],
            "father_name": strangers["father"],
            "gender": np.where(strangers["female"], "female", "male"),
            "birth_date": _iso(strangers["birth"]),
            "mobile": strangers["mobile"],
            "county": draw.centers[strangers["province"]],
            "province_code": draw.provinces[strangers["province"]],
        }
    )
    rows = pd.concat([rows, others], ignore_index=True)
    truth = np.concatenate([truth, np.full(n - known, None, dtype=object)])
    truth_record = np.concatenate([truth_record, np.full(n - known, None, dtype=object)])
    # Another clerk's hand: spelling variants, a typo now and then, a slipped birth date, a new mobile.
    for column, p_variant, p_typo in (("first_name", 0.3, 0.03), ("last_name", 0.3, 0.04), ("father_name", 0.2, 0.03)):
        values = rows[column].to_numpy(dtype=object).copy()
        r = rng.random(n)
        for i in np.flatnonzero(r < p_variant + p_typo):
            if isinstance(values[i], str):
                values[i] = spelling_variant(values[i], rng) if r[i] < p_variant else typo(values[i], rng)
        rows[column] = values
    birth = rows["birth_date"].to_numpy(dtype=object).copy()
    for i in np.flatnonzero(rng.random(n) < 0.05):
        if isinstance(birth[i], str):
            birth[i] = date.fromordinal(jalali_slip(date.fromisoformat(birth[i]).toordinal(), rng)).isoformat()
    rows["birth_date"] = birth
    rows["mobile"] = np.where(rng.random(n) < 0.15, draw.mobiles(n, missing=0.3), rows["mobile"].to_numpy(dtype=object))
    source = rng.choice(np.array(["applicants", "loans", "training"], dtype=object), size=n, p=[0.6, 0.3, 0.1])
    sent = np.array([mistype_id(nid, rng) for nid in rows["national_id"]], dtype=object)
    applicant = source == "applicants"
    order = rng.permutation(n)

    def column(name: str, only_applicants: bool = False) -> np.ndarray:
        values = rows[name].to_numpy(dtype=object)
        return (np.where(applicant, values, None) if only_applicants else values)[order]

    out = pd.DataFrame(
        {
            "refused_id": [f"r{i:06d}" for i in range(n)],
            "file_id": 1 + np.arange(n) // 50,
            "line_number": 2 + np.arange(n) % 50,
            "province_code": column("province_code"),
            "source": source[order],
            "national_id": sent[order],
            "first_name": column("first_name"),
            "last_name": column("last_name"),
            "father_name": column("father_name", True),
            "birth_date": column("birth_date", True),
            "mobile": column("mobile", True),
            "county": column("county", True),
            "true_national_id": truth[order],
            "true_record_id": truth_record[order],
        }
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: print what a generated population holds."""
    parser = argparse.ArgumentParser(description="Generate people with planted duplicate identities.")
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=1404)
    args = parser.parse_args(argv)
    people = generate_people(args.n, args.seed)
    print(
        f"{len(people.persons)} identity rows, {people.persons['national_id'].nunique()} national IDs, "
        f"{len(people.true_pairs())} true pairs, {len(people.refused)} refused rows "
        f"({len(people.true_links())} of loaded people), {len(people.near_misses)} near misses"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def score(result: object, people: People) -> dict[str, float | int]:
    """Precision and recall of a :class:`etl.match.MatchResult` against the generated truth."""
    pairs = result.pairs  # type: ignore[attr-defined]
    found = set(zip(pairs["national_id_l"], pairs["national_id_r"], strict=True))
    true = people.true_pairs()
    misses = people.near_misses
    near = {tuple(sorted(p)) for p in zip(misses["national_id_l"], misses["national_id_r"], strict=True)}
    links = result.refused_links  # type: ignore[attr-defined]
    linked = dict(zip(links["refused_id"], links["national_id"], strict=True))
    truth = people.true_links()
    right = sum(truth.get(rid) == nid for rid, nid in linked.items())
    return {
        "true_pairs": len(true),
        "pairs_found": len(found),
        "precision": len(found & true) / len(found) if found else 1.0,
        "recall": len(found & true) / len(true) if true else 1.0,
        "near_misses_paired": len(found & near),
        "refused_rows": len(people.refused),
        "links_found": len(linked),
        "link_precision": right / len(linked) if linked else 1.0,
        "link_recall": right / len(truth) if truth else 1.0,
    }


def evaluate(n: int, seed: int = 7, **options: object) -> dict[str, object]:
    """Generate ``n`` identity rows, match them, and score the result (options go to matching)."""
    from etl.match import find_suspected_duplicates

    people = generate_people(n, seed)
    result = find_suspected_duplicates(people.persons, people.refused, **options)  # type: ignore[arg-type]
    return {**result.summary(), **score(result, people)}
