"""Writing a site (kit.site.render), with random (and hostile) text: any text as
any answer is either refused with an AnswerError, or the site renders, its
kit.toml reads back to the same answers, sh reads the password from
secrets.env byte for byte, and no staging folder is left.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kit.site.answers import QUESTIONS, answers_from_raw
from kit.core.errors import AnswerError
from kit.site.render import render_site
from kit.site.folder import ANSWERS_FILE
from tests.support.hostile_text import nasty_text, spliced

GOOD = {
    "setups": "mirror,private,clients,public-mirror,cluster", "upstream": "http://127.0.0.1:3144/simple/", "teams": "web,data",
    "private_projects": "acme-utils", "mirror_projects": "acme-app,requests", "devpi_upstream": "upstream",
    "host": "pkgs.example.test", "scheme": "https", "master_port": "3141",
    "mirror_port": "3142", "edge_port": "3143", "edge": "varnish", "shield_port": "3145", "upstream_port": "3144",
    "clients": "pip,uv",
    "admin_password": "correct-horse-battery",
    "read_access": "team", "tls_cert": "", "tls_key": "", "http_port": "3146",
}
GOOD["floating_address"] = "198.18.0.10"
GOOD["public_mirror_port"] = "3147"
GOOD["varnish_exporter_port"] = "9131"
GOOD["edge_cache_size"] = "2.5G"
GOOD["web"] = "no"
answer_values = {key: nasty_text | spliced(GOOD[key]) | spliced(GOOD[key]) for key in GOOD}
# A hosts table (the default setups need a master, a mirror and an edge), its addresses spliced.
answer_values["hosts"] = nasty_text | st.fixed_dictionaries({
    name: st.fixed_dictionaries({"address": spliced(address), "roles": st.just([role])})
    for name, address, role in [("m", "198.18.0.6", "master"), ("r", "198.18.0.7", "mirror"),
                                ("e", "198.18.0.4", "edge")]
})
# Passwords: any text at all, so printable unicode and symbols reach kit.toml and secrets.env.
answer_values["admin_password"] |= st.text(min_size=8, max_size=30)
raw_answers = st.lists(st.sampled_from([q.key for q in QUESTIONS]), max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({key: answer_values[key] for key in keys})
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_answers)
def test_any_answer_is_refused_or_reads_back(raw):
    try:
        answers = answers_from_raw(raw)
    except AnswerError as exc:
        assert "\n" not in str(exc)
        event("refused")
        return
    event("rendered")
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp, "site")
        render_site(answers, site)
        text = (site / ANSWERS_FILE).read_text(encoding="utf-8")
        assert answers_from_raw(tomllib.loads(text)) == answers
        secrets_env = site / "server" / "secrets.env"
        if secrets_env.is_file():  # the password as sh reads it, byte for byte
            sourced = subprocess.run(["sh", "-c", '. ./secrets.env && printf %s "$KIT_ADMIN_PASSWORD"'],
                                     cwd=secrets_env.parent, capture_output=True, check=True).stdout
            assert sourced.decode() == answers.admin_password
        assert sorted(os.listdir(tmp)) == ["site"]  # no staging folder left
