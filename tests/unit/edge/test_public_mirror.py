"""The edge serving a real bandersnatch tree at ``/mirror/`` (kit/edge_mirror.py).

bandersnatch mirrors two projects from kit's local upstream once for the
module; one edge process (as the cluster runs it) serves that tree, with
master and mirror at closed ports: the public mirror needs no origin. pip and
uv install from it; every other check is what a client sees on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kit.edge.public_mirror import segments
from kit.ops.sample import make_wheel
from kit.upstream.server import LocalUpstream
from tests.conftest import free_port
from tests.support.edge import edge_process
from tests.support.upstream import bandersnatch_conf, bandersnatch_mirror

SECRET = b"kit-test-secret: never served"


@dataclass
class Tree:
    root: Path  # holds mirror/ (bandersnatch's directory) and the secrets beside it
    web: Path
    wheels: dict[str, Path]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    """A real bandersnatch mirror of kitmir-alpha 1.0 and kitmir-beta 1.0 (which requires kitmir-alpha);
    kitmir-gamma stays upstream (not in the allowlist). Secrets lie beside web/ and outside the mirror."""
    root = tmp_path_factory.mktemp("public-mirror")
    upstream = root / "upstream"
    wheels = {
        "kitmir-alpha": make_wheel(upstream, "kitmir-alpha", "1.0", marker="alpha"),
        "kitmir-beta": make_wheel(upstream, "kitmir-beta", "1.0", marker="beta", requires=("kitmir-alpha",)),
    }
    make_wheel(upstream, "kitmir-gamma", "1.0", marker="gamma")
    with LocalUpstream(upstream) as local:
        bandersnatch_mirror(bandersnatch_conf(root, local, "kitmir-alpha", "kitmir-beta"), root / "home")
    web = root / "mirror" / "web"
    assert (web / "simple" / "kitmir-beta" / "index.v1_json").is_file()
    (root / "mirror" / "secret.txt").write_bytes(SECRET)  # beside web/
    outside = root / "outside" / "aa" / "bb"
    outside.mkdir(parents=True)
    (outside / "secret.whl").write_bytes(SECRET)
    # Symlinks inside web/ that lead outside it: a page, a file, a folder.
    (web / "simple" / "kitmir-link").mkdir()
    (web / "simple" / "kitmir-link" / "index.html").symlink_to(root / "mirror" / "secret.txt")
    (web / "packages" / "ee" / "ff" / "gg").mkdir(parents=True)
    (web / "packages" / "ee" / "ff" / "gg" / "leak.whl").symlink_to(root / "mirror" / "secret.txt")
    (web / "packages" / "zz").symlink_to(root / "outside")
    return Tree(root=root, web=web, wheels=wheels)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def edge(tree):
    """One edge for the module; its public_mirror_dir is relative to its working folder, as cache_dir is."""
    folder = tree.root / "edge"
    with edge_process(folder, closed_port_url(), [closed_port_url()], public_mirror_dir="../mirror/web") as running:
        yield running


# -- real clients ------------------------------------------------------------------------


# -- pages ---------------------------------------------------------------------------------


# -- redirects, files, refusals ---------------------------------------------------------------


# -- the path rule, without sockets --------------------------------------------------------


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
