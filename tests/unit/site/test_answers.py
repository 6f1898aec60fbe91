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
