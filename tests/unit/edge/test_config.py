"""The edge's settings (:mod:`kit.edge.config`): ``edge.json`` as ``kit init``
writes it and the edge reads it at start; a file the edge cannot start from
stops it with one line naming the file and the problem. The site writing it:
tests/integration/edge/."""

from __future__ import annotations

import json

import pytest

from kit.edge.app import main
from kit.edge.config import EdgeConfig

MINIMAL = {"host": "127.0.0.1", "port": 3999, "public_url": "http://edge.test", "master": "http://127.0.0.1:3998"}


def test_a_minimal_edge_json_starts_a_plain_edge_before_its_master(tmp_path):
    (tmp_path / "edge.json").write_text(json.dumps(MINIMAL))
    config = EdgeConfig.load(tmp_path / "edge.json")
    assert (config.mirrors, config.cache_dir, config.purge_secret_file) == ([], "edge-cache", "edge-purge-secret")
    assert (config.page_ttl, config.retry_after, config.access_log) == (5.0, 5.0, False)
    assert (config.static_copy_dir, config.public_mirror_dir) == ("", "")  # neither served unless asked
    assert config.static_copy_sources == [MINIMAL["master"]]
    # Reads as today: no question asked, no reader's credentials needed.
    assert (config.read_access, config.private_reads, config.read_credentials_file) == ("anonymous", False, "")
    assert config.auth_ttl == 5.0


def test_what_is_written_is_what_is_read(tmp_path):
    config = EdgeConfig(**MINIMAL, mirrors=["http://127.0.0.1:3997"], page_ttl=3.0,
                        static_copy_dir="run/static-copy", static_copy_indexes=["web/private", "data/private"])
    config.write(tmp_path / "edge.json")
    assert EdgeConfig.load(tmp_path / "edge.json") == config
    assert config.static_copy_sources == ["http://127.0.0.1:3997", MINIMAL["master"]]  # the mirrors first


@pytest.mark.parametrize("text, said", [
    (json.dumps({**MINIMAL, "pagettl": 3}), "unexpected keyword argument 'pagettl'"),
    (json.dumps({"host": "127.0.0.1", "port": 3999}), "missing 2 required positional arguments"),
    ('{"host": "127.0.0.1", ', "Expecting property name enclosed in double quotes"),
    (json.dumps({**MINIMAL, "static_copy_dir": "c", "static_copy_indexes": ["../etc"]}), "../etc"),
    (None, "No such file or directory"),
    (json.dumps({**MINIMAL, "page_ttl": "soon"}), 'page_ttl must be a number, not "soon"'),
    (json.dumps({**MINIMAL, "port": "3999"}), 'port must be a whole number, not "3999"'),
    (json.dumps({**MINIMAL, "mirrors": "http://127.0.0.1:3997"}), "mirrors must be a list of text"),
    (json.dumps({**MINIMAL, "access_log": "yes"}), 'access_log must be true or false, not "yes"'),
    (json.dumps({**MINIMAL, "max_pages": True}), "max_pages must be a whole number, not true"),
    (json.dumps({**MINIMAL, "read_access": "friends"}), 'read_access must be one of team, site, anonymous, not "friends"'),
    (json.dumps({**MINIMAL, "read_access": "team"}), "read_access team needs read_credentials_file"),
    (json.dumps({**MINIMAL, "read_access": "team", "read_credentials_file": "nowhere"}),
     "read credentials file nowhere does not exist; run kit init again"),
], ids=["unknown-setting", "missing-setting", "not-json", "bad-index-name", "no-file",
        "ttl-a-word", "port-a-string", "mirrors-a-string", "log-a-string", "pages-a-bool",
        "read-access-unknown", "read-access-no-credentials", "read-credentials-missing"])
def test_an_edge_json_the_edge_cannot_start_from_is_one_line(tmp_path, text, said):
    path = tmp_path / "edge.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit) as stopped:
        main([str(path)])
    assert isinstance(stopped.value.code, str) and "\n" not in stopped.value.code
    assert stopped.value.code.startswith(f"kit edge: {path}: ") and said in stopped.value.code
