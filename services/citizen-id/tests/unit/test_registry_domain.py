"""Unit tests (no database) of the registry's pure rules and of the deterministic population generator:
mandates by age and relation, validity periods, purposes, subjects, and the synthetic citizens' consistency."""

from datetime import date

import pytest

from citizen_id.domain import (
    LEGACY_PROVINCES,
    adult_on,
    dossier_ref,
    household_mandate,
    is_minor,
    mandate_valid,
    parse_personal_id,
)
from citizen_id.seed import Generated, generate, generate_citizens, subject_function
from citizen_id.subjects import citizen_subject


@pytest.mark.parametrize(
    ("born", "today", "minor"),
    [
        (date(2022, 3, 15), date(2026, 11, 23), True),
        (date(2008, 11, 24), date(2026, 11, 23), True),  # turns 18 tomorrow
        (date(2008, 11, 23), date(2026, 11, 23), False),  # 18 today
        (date(1990, 5, 15), date(2026, 11, 23), False),
        (date(2008, 2, 29), date(2026, 2, 28), True),  # a leap-day child comes of age on 1 March
        (date(2008, 2, 29), date(2026, 3, 1), False),
    ],
)
def test_minority_is_reckoned_to_the_day(born, today, minor):
    assert is_minor(born, today) is minor


def test_adult_on():
    assert adult_on(date(2022, 3, 15)) == date(2040, 3, 15)
    assert adult_on(date(2008, 2, 29)) == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("relation", "born", "allowed"),
    [
        ("child", date(2022, 3, 15), True),
        ("child", date(2000, 1, 1), False),
        ("ward", date(2015, 1, 1), True),
        ("ward", date(1980, 1, 1), True),  # an adult under guardianship
        ("spouse", date(1990, 1, 1), False),
        ("head", date(1990, 1, 1), False),
        ("parent", date(1950, 1, 1), False),
    ],
)
def test_household_mandate(relation, born, allowed):
    assert household_mandate(relation, born, date(2026, 11, 23)) is allowed


def test_mandate_validity_includes_both_ends():
    start, end = date(2026, 1, 1), date(2027, 12, 31)
    assert mandate_valid(start, end, start) and mandate_valid(start, end, end)
    assert not mandate_valid(start, end, date(2025, 12, 31))
    assert not mandate_valid(start, end, date(2028, 1, 1))


@pytest.mark.parametrize(
    ("purpose", "ref"),
    [("dossier:000.26.01.H29-261123-0001-K7QXAB", "000.26.01.H29-261123-0001-K7QXAB"), ("dossier:", None),
     ("preview:1.001193", None), ("mandates", None), ("dossierX:1", None)],
)  # fmt: skip
def test_dossier_ref(purpose, ref):
    assert dossier_ref(purpose) == ref


def test_an_empty_subject_secret_is_refused():
    with pytest.raises(ValueError):
        citizen_subject("001090001234", "")


@pytest.mark.parametrize("secret", ["dev-subject-secret", "another"])
def test_the_seed_subject_function_equals_citizen_subject(secret):
    fast = subject_function(secret)
    for pid in ("001090001234", "001222001235", "096499999999"):
        assert fast(pid) == citizen_subject(pid, secret)
        assert fast(pid).startswith("vn1.") and len(fast(pid)) == 36
    assert citizen_subject("001090001234", "a") != citizen_subject("001090001234", "b")


def test_generation_is_deterministic_and_a_smaller_count_is_a_prefix():
    small = generate_citizens(300)
    assert small == generate_citizens(300)
    assert generate_citizens(450)[:300] == small
    assert generate_citizens(300, seed=1) != small
    assert len({row[0] for row in small}) == 300
    assert len({row[-1] for row in small}) == 300  # subjects are unique too


def test_generated_ids_encode_sex_birth_year_and_a_legacy_province():
    for row in generate_citizens(2_000):
        parsed = parse_personal_id(row[0])
        assert parsed.sex == row[6], row
        assert parsed.birth_year == row[5].year, row
        assert parsed.province_code in LEGACY_PROVINCES
        assert row[1] == " ".join(p for p in row[2:5] if p)


def test_generated_households_link_generated_members():
    found = Generated()
    chunks = list(generate(3_000, subject_function("s"), found=found))
    citizens = {row[0]: row for c in chunks for row in c.citizens}
    households = {h[0]: h for c in chunks for h in c.households}
    members = [m for c in chunks for m in c.members]
    assert len(citizens) == len(members) == 3_000
    assert {m[1] for m in members} == set(citizens)
    for household_id, pid, _relation, born in members:
        assert household_id in households
        assert citizens[pid][5] == born
        assert citizens[pid][12] == households[household_id][2]  # members live at the household's address
    minors = [m for m in members if is_minor(m[3], date(2026, 11, 23))]
    assert minors and all(m[2] in ("child", "ward") for m in minors)
    # representatives are adults, one per block of ten citizens at most
    assert all(int(parse_personal_id(pid).birth_year) <= 2008 for pid in found.adult_by_block.values())
