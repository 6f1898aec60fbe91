"""kit.site.answers: the answers of kit init, from kit.toml, --set or the
wizard, each refused with one line naming the key, the problem and the fix."""

from __future__ import annotations

import pytest

from kit.core.errors import AnswerError
from kit.site.answers import collect_answers


def test_every_choice_valued_answer_names_a_near_miss():
    """Whichever answer takes one of a few words, a typo of one gets it named."""
    for key, near, meant in [("edge", "varnsh", "varnish"), ("scheme", "htps", "https"),
                             ("devpi_upstream", "public-mirorr", "public-mirror"), ("setups", "clients,cluser", "cluster"),
                             ("clients", "pip,tw1ne", "twine")]:
        raw = {"setups": ["cluster", "public-mirror"], "mirror_projects": "x"} if key == "devpi_upstream" else {}
        with pytest.raises(AnswerError) as info:
            collect_answers({**raw, key: near})
        assert str(info.value).startswith(f"{key}: ") and f"(did you mean {meant!r}?)" in str(info.value)


@pytest.mark.parametrize("given, size", [("10G", 10 * 1024**3), ("500M", 500 * 1024**2), ("2.5G", 2.5 * 1024**3),
                                         (4194304, 4194304), ("3MiB", 3 * 1024**2), (" 1 gb ", 1024**3)])
def test_edge_cache_size_is_written_with_a_unit_or_in_bytes(given, size):
    from kit.site.answers import answers_from_raw, dump_answers
    from kit.site.plan import edge_config

    answers = answers_from_raw({"setups": "private,cluster", "edge_cache_size": given})
    assert answers.edge_cache_bytes == int(size) and edge_config(answers).max_cache_bytes == int(size)
    assert "edge_cache_size = " in dump_answers(answers)


def test_the_edge_cache_is_10g_unless_answered():
    from kit.site.answers import answers_from_raw

    assert answers_from_raw({"setups": "private,cluster"}).edge_cache_bytes == 10 * 1024**3


@pytest.mark.parametrize("given, problem", [("lots", "expected a size like 10G, 500M, 2.5G or a number of bytes"),
                                            ("10X", "expected a size like"), ("-1G", "expected a size like"),
                                            (True, "expected a size like"), ("512K", "512K is less than 1M; give at least 1M")])
def test_a_bad_edge_cache_size_is_one_line_naming_the_fix(given, problem):
    with pytest.raises(AnswerError) as info:
        collect_answers({"setups": "private,cluster", "edge_cache_size": given})
    message = str(info.value)
    assert message.startswith("edge_cache_size: ") and problem in message and "\n" not in message


def test_varnish_s_exporter_port_is_never_asked_and_must_not_collide_on_a_varnish_site():
    from kit.site.answers import QUESTIONS, answers_from_raw, dump_answers

    question = next(q for q in QUESTIONS if q.key == "varnish_exporter_port")
    assert not question.when({"setups": ("cluster",), "edge": "varnish"})
    varnish = answers_from_raw({"setups": "private,cluster", "edge": "varnish"})
    assert varnish.varnish_exporter_port == 9131 and "varnish_exporter_port = 9131" in dump_answers(varnish)
    # kit's own edge runs no exporter: its kit.toml does not carry the answer.
    assert "varnish_exporter_port" not in dump_answers(answers_from_raw({"setups": "private,cluster"}))
    with pytest.raises(AnswerError) as info:
        collect_answers({"setups": "private,cluster", "edge": "varnish", "edge_port": 9300,
                         "varnish_exporter_port": 9300})
    assert str(info.value).startswith("varnish_exporter_port: ") and "edge_port" in str(info.value)
    # Nothing listens there without Varnish: the port is free for the others.
    assert answers_from_raw({"setups": "private,cluster", "edge_port": 9300,
                             "varnish_exporter_port": 9300}).edge_port == 9300


@pytest.mark.parametrize("given, web", [("yes", "yes"), (" No ", "no"), (True, "yes"), (False, "no"), ("true", "yes"),
                                        ("off", "no")])
def test_web_is_yes_or_no_in_any_usual_spelling(given, web):
    from kit.site.answers import answers_from_raw, dump_answers

    answers = answers_from_raw({"setups": "private,cluster", "web": given})
    assert answers.web == web and f'web = "{web}"' in dump_answers(answers)


def test_web_is_off_unless_answered_and_asked_with_the_cluster_or_private_setups():
    from kit.site.answers import QUESTIONS, answers_from_raw

    assert answers_from_raw({"setups": "private,cluster"}).web == "no"
    question = next(q for q in QUESTIONS if q.key == "web")
    assert question.when({"setups": ("cluster",)}) and question.when({"setups": ("private",)})
    assert not question.when({"setups": ("mirror",)})
    assert "devpi-web" in question.help and "memory" in question.help and "disk" in question.help


@pytest.mark.parametrize("given", ["maybe", "", 2, ["yes"]])
def test_a_bad_web_answer_is_one_line_naming_the_fix(given):
    with pytest.raises(AnswerError) as info:
        collect_answers({"setups": "private,cluster", "web": given})
    message = str(info.value)
    assert message.startswith("web: expected yes or no") and "pip install devpi-web" in message
    assert "\n" not in message
