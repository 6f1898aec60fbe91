"""Round-trip properties, with random (and hostile) text.

1. Any text as any answer is either refused with an AnswerError, or the site
   renders and its kit.toml reads back to the same answers.
2. Any text as ``kit clients --index-url`` (and ``--upload-url``) is either
   refused, or every client file reads back, by the parser its tool uses,
   with exactly that URL and exactly one index; and every tool that publishes
   (twine, uv, poetry, pdm) with exactly that upload URL.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import tempfile
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kit.site.answers import QUESTIONS, answers_from_raw
from kit.site.clients import index_context, render_clients
from kit.core.errors import AnswerError, ClientsError
from kit.site.render import render_site
from kit.site.folder import ANSWERS_FILE

#: What a hostile value is made of: the characters that end or escape a value
#: in INI, TOML and sh, control characters, and some unicode.
NASTY = "\n\r\t\x00\x01\x1b\x7f \"'`\\$(){};&|<>#=[]%:@?~,+!*\u00a0\u200b\u202e\u00e9\u00b2\uff13\udcff"

nasty_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=40)


#: Characters some validators accept: they get values through to the writers.
MILD = "abcxyz019-._~/:+,=@!$\"'\\#[]éß"


def _spliced(good: str) -> st.SearchStrategy[str]:
    """``good`` with a piece of hostile (or merely odd) text put in somewhere:
    close enough to pass some checks, so the writers are exercised too."""
    return st.builds(
        lambda junk, at: good[:at] + junk + good[at:],
        st.text(alphabet=st.sampled_from(NASTY + MILD) | st.characters(max_codepoint=0x7f), max_size=6)
        | st.text(alphabet=st.sampled_from(MILD), max_size=4),
        st.integers(0, len(good)),
    )


GOOD = {
    "setups": "mirror,private,clients,public-mirror,cluster", "upstream": "http://127.0.0.1:3144/simple/", "teams": "web,data",
    "private_projects": "acme-utils", "mirror_projects": "acme-app,requests", "devpi_upstream": "upstream",
    "host": "pkgs.example.test", "scheme": "https", "master_port": "3141",
    "mirror_port": "3142", "edge_port": "3143", "edge": "varnish", "shield_port": "3145", "upstream_port": "3144",
    "clients": "pip,uv",
    "admin_password": "correct-horse-battery",
}
answer_values = {key: nasty_text | _spliced(GOOD[key]) | _spliced(GOOD[key]) for key in GOOD}
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


# -- kit clients ---------------------------------------------------------------

ALL_TOOLS = ("pip", "uv", "buildout", "setuptools", "poetry", "pdm", "twine", "env")
DEVPI_URL = "http://127.0.0.1:3141/web/private/+simple/"
urls = nasty_text | _spliced(DEVPI_URL) | _spliced(DEVPI_URL) | _spliced("https://pkgs.example.test/simple/")
UPLOAD_URL = "https://pkgs.example.test/upload/"
upload_urls = st.just(UPLOAD_URL) | _spliced(UPLOAD_URL)


def _sourced(folder: Path) -> dict[str, str]:
    """The variables ci.env sets, as a CI job's sh sees them after ``set -a; . ./ci.env``."""
    env = {"PATH": os.environ["PATH"], "HOME": str(folder)}

    def variables(script: str) -> dict[str, str]:
        out = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, check=True).stdout
        return dict(line.split("=", 1) for line in out.decode().split("\0") if "=" in line)

    before = variables("env -0")
    after = variables("set -a; . ./ci.env; set +a; env -0")
    return {k: v for k, v in after.items() if before.get(k) != v}


def _read_back(files: dict[str, str], folder: Path) -> dict[str, object]:
    """Each file parsed as its tool parses it: what index (or indexes) it names."""
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    pip = configparser.RawConfigParser()  # pip reads its config without interpolation
    pip.read_string(files["pip.conf"])
    setup_cfg = configparser.ConfigParser()  # setuptools interpolates "%"
    setup_cfg.read_string(files["setup.cfg"])
    buildout = configparser.RawConfigParser()
    buildout.read_string(files["buildout.cfg"])
    uv = tomllib.loads(files["uv.toml"])
    pdm = tomllib.loads(files["pdm.toml"])
    poetry = tomllib.loads(files["poetry-source.toml"])
    pypirc = configparser.RawConfigParser()  # twine reads .pypirc without interpolation
    pypirc.read_string(files[".pypirc"])
    env = _sourced(folder)
    return {
        "pip": (pip.sections(), dict(pip["global"])),
        "setuptools": (setup_cfg.sections(), setup_cfg.get("easy_install", "index_url")),
        "buildout": (buildout.sections(), buildout.get("buildout", "index")),
        "uv": [index["url"] for index in uv["index"]],
        "pdm": pdm["pypi"]["url"],
        "poetry": [source["url"] for source in poetry["tool"]["poetry"]["source"]],
        "env": env,
        # Where each tool that publishes uploads.
        "uploads": {
            "twine": [pypirc.get(section, "repository") for section in pypirc.sections() if section != "distutils"],
            "uv": [uv.get("publish-url")] + [index.get("publish-url") for index in uv["index"]],
            "pdm": [repository["url"] for repository in pdm.get("repository", {}).values()],
            "env": sorted({env[name] for name in env if name.endswith(("_PUBLISH_URL", "_PUBLISH_REPO", "REPOSITORY_URL"))
                           or name.startswith("POETRY_REPOSITORIES_")}),
        },
    }


def _expected(url: str) -> dict[str, object]:
    return {
        "pip": (["global"], {"index-url": url, "extra-index-url": "", "find-links": ""}),
        "setuptools": (["easy_install"], url),
        "buildout": (["buildout"], url),
        "uv": [url],
        "pdm": url,
        "poetry": [url],
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_url=urls, raw_upload_url=upload_urls)
def test_any_index_url_is_refused_or_every_file_names_exactly_it(raw_url, raw_upload_url):
    try:
        context = index_context(raw_url, tools=ALL_TOOLS, upload_url=raw_upload_url)
    except (ClientsError, AnswerError) as exc:
        assert "\n" not in str(exc)
        event("refused")
        return
    event("written")
    url = context["index_url"]
    assert url in (raw_url.strip(), raw_url.strip() + "/")
    files = render_clients(context, readme=False)
    with tempfile.TemporaryDirectory() as tmp:
        seen = _read_back(files, Path(tmp))
    env = seen.pop("env")
    upload_url = context["upload_url"]
    assert seen.pop("uploads") == {"twine": [upload_url], "uv": [upload_url, upload_url], "pdm": [upload_url],
                                   "env": [upload_url]}
    names = ("TWINE_REPOSITORY_URL", "UV_PUBLISH_URL", "PDM_PUBLISH_REPO", f"POETRY_REPOSITORIES_{context['env_name']}_URL")
    assert [env.get(name) for name in names] == [upload_url] * len(names)
    pip_sections, pip_global = seen.pop("pip")
    expected = _expected(url)
    exp_sections, exp_global = expected.pop("pip")
    assert pip_sections == exp_sections
    assert {k: v for k, v in pip_global.items() if k != "trusted-host"} == exp_global
    assert seen == expected
    assert env["PIP_INDEX_URL"] == env["UV_DEFAULT_INDEX"] == env["PDM_PYPI_URL"] == url
    assert env["PIP_EXTRA_INDEX_URL"] == "" and env["PIP_FIND_LINKS"] == ""
    # Nothing but kit's own variables: a value never defines another one.
    assert all(name.startswith(("PIP_", "UV_", "PDM_", "TWINE_", "POETRY_")) for name in env), sorted(env)
