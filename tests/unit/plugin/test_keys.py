"""Which keys a change purges (:mod:`kit.plugin.keys`): the plugin's half of
the purge contract, without a server. A real devpi-server's commits turned
into these keys: tests/integration/plugin/test_watcher.py."""

from __future__ import annotations

from kit.plugin.keys import collapse, inheritors, normalise, purge_keys

#: acme/private inherits web/private, both inherit root/pypi (a mirror of the
#: local upstream); data/other inherits nothing.
INDEXES = {
    "root/pypi": [],
    "web/private": ["root/pypi"],
    "acme/private": ["web/private", "root/pypi"],
    "data/other": [],
}


def test_a_change_purges_the_stage_and_every_index_inheriting_it():
    assert inheritors("root/pypi", INDEXES) == {"root/pypi", "web/private", "acme/private"}
    assert inheritors("web/private", INDEXES) == {"web/private", "acme/private"}
    assert inheritors("acme/private", INDEXES) == {"acme/private"}
    assert inheritors("data/other", INDEXES) == {"data/other"}


def test_inheritance_through_a_cycle_and_a_chain():
    """kit's team indexes inherit each other (devpi skips bases already seen)."""
    bases = {
        "root/names": [],
        "web/private": ["root/names", "acme/private", "root/pypi"],
        "acme/private": ["root/names", "web/private", "root/pypi"],
        "ops/tools": ["acme/private"],
        "root/pypi": [],
    }
    assert inheritors("web/private", bases) == {"web/private", "acme/private", "ops/tools"}
    assert inheritors("root/names", bases) == {"root/names", "web/private", "acme/private", "ops/tools"}
    # A base that no longer exists (its index was deleted) still names its inheritors.
    assert inheritors("gone/index", {"web/private": ["gone/index"]}) == {"gone/index", "web/private"}


def test_keys_per_kind_of_change():
    assert purge_keys("web/private", "Kit_Demo.Purge", INDEXES) == {
        "web/private/kit-demo-purge", "acme/private/kit-demo-purge",
    }
    assert purge_keys("web/private", None, INDEXES) == {"web/private", "acme/private"}
    assert purge_keys("web/private", "*", INDEXES) == {"web/private/*", "acme/private/*"}
    assert purge_keys("root/pypi", "six", INDEXES) == {"root/pypi/six", "web/private/six", "acme/private/six"}


def test_names_are_normalised_as_pep_503_says():
    assert normalise("Foo__Bar.baz-Qux") == "foo-bar-baz-qux"


def test_too_many_keys_become_whole_indexes_never_fewer_pages():
    keys = {"web/private", "web/private/a", "web/private/b", "acme/private/c", "data/other", "root/pypi/*"}
    assert collapse(keys) == {"web/private/*", "acme/private/*", "data/other", "root/pypi/*"}
