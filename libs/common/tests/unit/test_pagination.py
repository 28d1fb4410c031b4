import uuid
from datetime import UTC, datetime

import pytest

from motcua_common.pagination import decode_cursor, decode_keyset, encode_cursor, encode_keyset, filter_scope
from motcua_common.problems import ProblemError

STAMP = datetime(2025, 7, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize(("key", "key_type"), [(42, int), (uuid.uuid4(), uuid.UUID)])
def test_keyset_round_trip(key, key_type):
    assert decode_keyset(encode_keyset(STAMP, key), key_type) == (STAMP, key)


@pytest.mark.parametrize(
    "bad",
    [
        "zzz",
        "!!!",
        encode_keyset(STAMP, 42)[:-3],
        encode_cursor(1, 2),
        encode_cursor("x"),
        encode_cursor("2025-07-01T08:30:15", 42),  # naive timestamp
        encode_cursor(STAMP.isoformat(), "not-an-int"),
        encode_cursor(STAMP.isoformat(), True),
    ],
)
def test_cursors_the_api_did_not_issue_are_400(bad):
    with pytest.raises(ProblemError) as info:
        decode_keyset(bad, int)
    assert (info.value.status, info.value.slug) == (400, "invalid-cursor")


def test_plain_cursor_checks_its_arity():
    assert decode_cursor(encode_cursor("1.001193"), 1) == ["1.001193"]
    with pytest.raises(ProblemError):
        decode_cursor(encode_cursor("a", "b"), 1)


def test_a_scoped_cursor_is_accepted_only_for_its_filters():
    key = uuid.uuid4()
    mine, other = filter_scope(unit="U1", overdue=True), filter_scope(unit="U1", overdue=False)
    assert mine == filter_scope(overdue=True, unit="U1") and mine != other  # order of the filters does not matter
    cursor = encode_keyset(STAMP, key, scope=mine)
    assert decode_keyset(cursor, uuid.UUID, scope=mine) == (STAMP, key)
    for scope, bad in ((other, cursor), (mine, encode_keyset(STAMP, key)), (None, cursor)):
        with pytest.raises(ProblemError) as info:
            decode_keyset(bad, uuid.UUID, scope=scope)
        assert (info.value.status, info.value.slug) == (400, "invalid-cursor")
    with pytest.raises(ProblemError) as info:
        decode_keyset(cursor, uuid.UUID, scope=other)
    assert "other filters" in str(info.value.detail)
