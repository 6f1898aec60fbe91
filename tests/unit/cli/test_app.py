"""What kit prints around the work: full help texts, shell completion that
bash really uses, no doubled labels."""

from __future__ import annotations

from tests.support.cli import kit


def test_service_roles_have_no_nested_parentheses(tmp_path, capsys):
    assert kit("init", str(tmp_path / "s"), "--no-input", "--set", f"upstream={tmp_path}", capsys=capsys)[0] == 0
    from kit.cluster.lifecycle import Cluster

    for service in Cluster.load(tmp_path / "s").services():
        line = f"{service.name:8} starting on {service.url} ({service.role})"
        assert line.count("(") == 1, line
