"""What the edge answers for a verified file (:mod:`kit.edge.ranges`): whole,
one range, 416, 304, as RFC 9110 says."""

from __future__ import annotations

import pytest

from kit.edge.ranges import UNSATISFIABLE, Plan, byte_range, etag, http_date, not_modified, plan, range_allowed

TAG = etag("ab" * 32)
MODIFIED = 1_700_000_000.5


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-9", (0, 10)),
    ("bytes=10-", (10, 100)),
    ("bytes=-5", (95, 100)),
    ("bytes=-500", (0, 100)),           # a suffix longer than the file: all of it
    ("bytes=99-99", (99, 100)),         # the last byte
    ("bytes=90-1000", (90, 100)),       # an end past the file: up to its end
    ("bytes = 3 - 4", (3, 5)),
    ("bytes=100-", UNSATISFIABLE),      # starts past the end
    ("bytes=100-200", UNSATISFIABLE),
    ("bytes=-0", UNSATISFIABLE),
    ("bytes=0-1,5-6", None),            # several ranges: the whole file (RFC 9110 allows it)
    ("items=0-1", None),
    ("bytes=5-3", None),
    ("bytes=a-b", None),
    ("bytes=-", None),
    ("bytes", None),
    ("", None),
    (None, None),
])
def test_a_single_byte_range_is_read_and_anything_else_means_the_whole_file(header, expected):
    assert byte_range(header, 100) == expected


def test_any_range_of_an_empty_file_is_unsatisfiable():
    assert byte_range("bytes=0-", 0) == UNSATISFIABLE
    assert byte_range("bytes=-1", 0) == UNSATISFIABLE


def test_if_none_match_matches_the_tag_any_of_a_list_a_weak_form_and_a_star():
    assert not_modified(TAG, None, TAG, MODIFIED)
    assert not_modified(f'"other", {TAG}', None, TAG, MODIFIED)
    assert not_modified(f"W/{TAG}", None, TAG, MODIFIED)
    assert not_modified("*", None, TAG, MODIFIED)
    assert not not_modified('"other"', None, TAG, MODIFIED)


def test_if_modified_since_is_304_when_not_older_and_if_none_match_wins_when_both_are_sent():
    assert not_modified(None, http_date(MODIFIED), TAG, MODIFIED)
    assert not_modified(None, http_date(MODIFIED + 60), TAG, MODIFIED)
    assert not not_modified(None, http_date(MODIFIED - 60), TAG, MODIFIED)
    assert not not_modified(None, "not a date", TAG, MODIFIED)
    assert not not_modified('"other"', http_date(MODIFIED + 60), TAG, MODIFIED)
    assert not_modified(TAG, http_date(MODIFIED - 60), TAG, MODIFIED)


def test_if_range_allows_a_range_only_for_this_very_file():
    assert range_allowed(None, TAG, MODIFIED)
    assert range_allowed(TAG, TAG, MODIFIED)
    assert not range_allowed('"sha256-other"', TAG, MODIFIED)
    assert not range_allowed(f"W/{TAG}", TAG, MODIFIED)  # strong comparison
    assert range_allowed(http_date(MODIFIED), TAG, MODIFIED)
    assert not range_allowed(http_date(MODIFIED - 60), TAG, MODIFIED)


def test_the_plan_for_each_kind_of_request():
    size = 100
    assert plan({}, "GET", size, TAG, MODIFIED) == Plan(200, 0, 100)
    ranged = plan({"Range": "bytes=-1"}, "GET", size, TAG, MODIFIED)
    assert ranged == Plan(206, 99, 100) and ranged.content_range(size) == "bytes 99-99/100"
    assert plan({"Range": "bytes=0-9"}, "HEAD", size, TAG, MODIFIED) == Plan(206, 0, 10)
    refused = plan({"Range": "bytes=100-"}, "GET", size, TAG, MODIFIED)
    assert refused == Plan(416) and refused.content_range(size) == "bytes */100"
    assert plan({"Range": "bytes=0-1,4-5"}, "GET", size, TAG, MODIFIED) == Plan(200, 0, 100)
    assert plan({"Range": "bytes=0-9", "If-Range": '"old"'}, "GET", size, TAG, MODIFIED) == Plan(200, 0, 100)
    assert plan({"Range": "bytes=0-9", "If-Range": TAG}, "GET", size, TAG, MODIFIED) == Plan(206, 0, 10)
    assert plan({"Range": "bytes=500-", "If-Range": '"old"'}, "GET", size, TAG, MODIFIED) == Plan(200, 0, 100)
    assert plan({"If-None-Match": TAG, "Range": "bytes=0-9"}, "GET", size, TAG, MODIFIED) == Plan(304)
    assert plan({"If-None-Match": TAG}, "HEAD", size, TAG, MODIFIED) == Plan(304)
