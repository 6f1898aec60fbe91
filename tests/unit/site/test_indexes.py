"""The index plan against dependency confusion (kit.site.indexes): each team's
index, its bases and who reads it, and indexes.json, which holds no password."""

from __future__ import annotations

import json

import pytest

from kit.core.errors import DevpiError
from kit.site.indexes import NAMES_INDEX, IndexPlan, readers, team_index_config


def test_team_index_inherits_names_then_the_other_teams_then_the_upstream():
    config = team_index_config("web", ("web", "acme", "data"))
    assert config["bases"] == [NAMES_INDEX, "acme/private", "data/private", "root/pypi"]
    assert config["mirror_whitelist"] == [] and config["type"] == "stage"
    assert config["acl_pkg_read"] == [":ANONYMOUS:"]
    assert team_index_config("web", ("web", "acme"), "site")["bases"] == [NAMES_INDEX, "acme/private", "root/pypi"]


def test_with_team_reads_a_team_index_inherits_no_other_team_and_only_its_team_reads_it():
    config = team_index_config("web", ("web", "acme", "data"), "team")
    assert config["bases"] == [NAMES_INDEX, "root/pypi"]
    assert config["acl_pkg_read"] == ["web", "kit-edge"]
    assert readers("team") == readers("site") == [":AUTHENTICATED:"]  # root/pypi and root/names
    assert readers("site", "web") == [":AUTHENTICATED:"] and readers("anonymous", "web") == [":ANONYMOUS:"]


def test_the_plan_names_the_edge_readers_password_variable_unless_reads_are_anonymous():
    from kit.site.answers import answers_from_raw

    answers = answers_from_raw({"teams": "web", "setups": "private", "read_access": "team"})
    plan = IndexPlan.from_answers(answers)
    assert plan.read_access == "team" and plan.reader_password == answers.edge_read_password
    text = plan.to_json()
    assert answers.edge_read_password not in text
    assert json.loads(text)["reader"] == {"name": "kit-edge", "password_variable": "KIT_EDGE_READ_PASSWORD"}
    environ = {"KIT_TEAM_WEB_PASSWORD": answers.team_password("web")}
    with pytest.raises(DevpiError, match="KIT_EDGE_READ_PASSWORD is not set"):
        IndexPlan.from_json(text, environ)
    assert IndexPlan.from_json(text, dict(environ, KIT_EDGE_READ_PASSWORD=answers.edge_read_password)) == plan
    anonymous = IndexPlan.from_answers(answers_from_raw({"teams": "web", "read_access": "anonymous"}))
    assert anonymous.reader_password is None and json.loads(anonymous.to_json())["reader"] is None
    broken = text.replace('"read_access": "team"', '"read_access": "everyone"')
    with pytest.raises(DevpiError, match="not kit's index plan"):
        IndexPlan.from_json(broken, dict(environ, KIT_EDGE_READ_PASSWORD="x"))


def test_index_plan_file_holds_no_password_and_reads_back_with_the_environment():
    from kit.site.answers import answers_from_raw

    answers = answers_from_raw({"teams": "web,data-science",
                                "private_projects": "Secret_Thing,data-science:Data.Tools"})
    plan = IndexPlan.from_answers(answers)
    text = plan.to_json()
    assert answers.team_password("web") not in text and answers.admin_password not in text
    assert answers.edge_read_password not in text
    environ = {"KIT_TEAM_WEB_PASSWORD": answers.team_password("web"),
               "KIT_TEAM_DATA_SCIENCE_PASSWORD": answers.team_password("data-science"),
               "KIT_EDGE_READ_PASSWORD": answers.edge_read_password}
    assert IndexPlan.from_json(text, environ) == plan
    # A name given to a team is that team's index's to hold, not root/names'.
    assert plan.private_projects == ("secret-thing",) and plan.owned_projects == {"data-tools": "data-science"}
    assert answers.private_names == ("secret-thing", "data-tools")
    # An indexes.json written before owners existed still reads.
    older = text.replace('"owned_projects": {\n    "data-tools": "data-science"\n  },\n', "")
    assert "owned_projects" not in older and IndexPlan.from_json(older, environ).owned_projects == {}
    # One written before private reads existed reads as anonymous reads.
    oldest = json.dumps({k: v for k, v in json.loads(text).items() if k not in ("read_access", "reader")})
    assert IndexPlan.from_json(oldest, environ).read_access == "anonymous"
