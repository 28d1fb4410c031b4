"""The JSON text of json/jsonb parameters (motcua_common.db.json_text, orjson): what json.dumps wrote reads back
the same, Vietnamese text included, and non-string keys become strings as they did."""

import json

import pytest

from motcua_common.db import json_text

VALUES = [
    {"full_name": "Nguyễn Thị Hoà", "address": "Phường Hoàn Kiếm, Hà Nội", "n": 3, "ok": True, "none": None},
    [1, 2.5, "đ", {"nested": ["ư", {"ố": 0}]}],
    {"fee_vnd": 30_000, "ratio": 0.1, "empty": {}, "list": []},
    "Ủy ban nhân dân",
]


@pytest.mark.parametrize("value", VALUES)
def test_reads_back_as_json_dumps_wrote_it(value):
    assert json.loads(json_text(value)) == json.loads(json.dumps(value)) == value


def test_non_string_keys_become_strings_like_json_dumps():
    value = {1: "a", 2.5: "b", None: "c"}
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_text_is_utf8_not_escaped():
    assert json_text({"name": "Hoà"}) == '{"name":"Hoà"}'
