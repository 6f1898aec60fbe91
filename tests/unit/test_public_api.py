"""kit's public surface, pinned (as httpx pins its own in tests/test_exported_members.py).

kit/__init__.py's docstring names it: render_site, render_clients, Answers and
the errors module. A name added to, or dropped from, one of these modules'
exports fails here, so the change is made on purpose, with this list."""

from __future__ import annotations

import importlib
import re

import pytest

import kit

PUBLIC = {
    "kit.site.render": ["ANSWERS_FILE", "MANIFEST", "SiteChanges", "SitePlan", "check_site_dir", "render_site",
                        "staged_site"],
    "kit.site.clients": ["index_context", "render_clients", "render_team", "team_context", "write_clients"],
    "kit.site.answers": ["Answers", "DEVPI_UPSTREAMS", "QUESTIONS", "Question", "SETUPS", "TOOLS", "answers_from_raw",
                         "collect_answers", "dump_answers", "is_loopback", "is_requirement_file", "load_answers_file",
                         "parse_set_options", "parse_tools", "site_warnings"],
    # Every error kit raises on purpose, and the one helper that prints any error on one line.
    "kit.core.errors": ["AnswerError", "AnswerFileError", "BenchError", "ClientRunError", "ClientsError",
                        "ClusterError", "CoreMetadataError", "DevpiError", "DrillError", "HandEditedError", "KitError", "MirrorError",
                        "MirrorInterrupted", "MirrorStorageError", "NotATerminalError", "OutDirError", "SecretError",
                        "SiteDirError", "UnknownKeyError", "UnsafeValueError", "WheelhouseError", "one_line"],
}


def exported(module) -> list[str]:
    """The module's ``__all__``: each public module declares what it exports."""
    assert hasattr(module, "__all__"), f"{module.__name__} has no __all__"
    return sorted(module.__all__)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_module_exports_exactly_the_pinned_names(name):
    module = importlib.import_module(name)
    assert exported(module) == PUBLIC[name]
    missing = [member for member in PUBLIC[name] if not hasattr(module, member)]
    assert missing == [], f"{name} exports names it does not have"


def test_every_error_is_a_kit_error():
    from kit.core import errors

    assert [name for name in PUBLIC["kit.core.errors"]
            if name != "one_line" and not issubclass(getattr(errors, name), errors.KitError)] == []


def test_the_package_docstring_names_the_public_surface():
    """kit/__init__.py's docstring is where a user looks first: what it names exists, at the path it gives."""
    named = re.findall(r":(func|class|mod):`([\w.]+)`", kit.__doc__)
    assert sorted(target for _, target in named) == [
        "kit.core.errors", "kit.site.answers.Answers", "kit.site.clients.render_clients", "kit.site.render.render_site"]
    for role, target in named:
        if role == "mod":
            assert target in PUBLIC
        else:
            module, member = target.rsplit(".", 1)
            assert member in PUBLIC[module] and hasattr(importlib.import_module(module), member), target


