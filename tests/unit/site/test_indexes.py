"""The index plan against dependency confusion (kit.site.indexes): each team's
index and its bases, and indexes.json, which holds no password."""

from __future__ import annotations

from kit.site.indexes import NAMES_INDEX, IndexPlan, team_index_config


def test_team_index_inherits_names_then_the_other_teams_then_the_upstream():
    config = team_index_config("web", ("web", "acme", "data"))
    assert config["bases"] == [NAMES_INDEX, "acme/private", "data/private", "root/pypi"]
    assert config["mirror_whitelist"] == [] and config["type"] == "stage"


def test_index_plan_file_holds_no_password_and_reads_back_with_the_environment():
    from kit.site.answers import answers_from_raw

    answers = answers_from_raw({"teams": "web,data-science",
                                "private_projects": "Secret_Thing,data-science:Data.Tools"})
    plan = IndexPlan.from_answers(answers)
    text = plan.to_json()
    assert answers.team_password("web") not in text and answers.admin_password not in text
    environ = {"KIT_TEAM_WEB_PASSWORD": answers.team_password("web"),
               "KIT_TEAM_DATA_SCIENCE_PASSWORD": answers.team_password("data-science")}
    assert IndexPlan.from_json(text, environ) == plan
    # A name given to a team is that team's index's to hold, not root/names'.
    assert plan.private_projects == ("secret-thing",) and plan.owned_projects == {"data-tools": "data-science"}
    assert answers.private_names == ("secret-thing", "data-tools")
    # An indexes.json written before owners existed still reads.
    older = text.replace('"owned_projects": {\n    "data-tools": "data-science"\n  },\n', "")
    assert "owned_projects" not in older and IndexPlan.from_json(older, environ).owned_projects == {}
