"""The public mirror's path rule (kit/edge/public_mirror.py), without a server: what
a request path may reach inside bandersnatch's tree. The edge serving a real tree
is tests/integration/edge/test_public_mirror.py."""

from __future__ import annotations

import pytest

from kit.edge.public_mirror import segments


@pytest.mark.parametrize("raw, expected", [
    ("/mirror/simple/", ["simple", ""]),
    ("/mirror/simple/kitmir-alpha/?x=1", ["simple", "kitmir-alpha", ""]),
    ("/%6Dirror/simple", ["simple"]),
    ("/mirror/packages/a/b/c/zope.interface-1%212.0.tar.gz", ["packages", "a", "b", "c", "zope.interface-1!2.0.tar.gz"]),
    ("/mirror/simple/..", None),
    ("/mirror/simple/.hidden/", None),
    ("/mirror/simple/a%2fb/", None),
    ("/mirror/simple/a%5cb/", None),
    ("/mirror/simple/a%0d%0aSet-Cookie:x/", None),
    ("/mirror/simple/%ff/", None),  # not UTF-8
    ("/mirror//simple/", None),
    ("/other/simple/", None),
])
def test_segments(raw, expected):
    assert segments(raw) == expected
