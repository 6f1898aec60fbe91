"""Round-trip property, with random (and hostile) text: any text as ``kit
clients --index-url`` (and ``--upload-url``) is either refused, or every
client file reads back, by the parser its tool uses, with exactly that URL and
exactly one index; and every tool that publishes (twine, uv, poetry, pdm) with
exactly that upload URL. (Any answer reading back from kit.toml: test_render.py.)
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

from kit.site.clients import index_context, render_clients
from kit.core.errors import AnswerError, ClientsError
from tests.support.hostile_text import nasty_text, spliced


# -- kit clients ---------------------------------------------------------------

ALL_TOOLS = ("pip", "uv", "buildout", "setuptools", "poetry", "pdm", "twine", "env")
DEVPI_URL = "http://127.0.0.1:3141/web/private/+simple/"
urls = nasty_text | spliced(DEVPI_URL) | spliced(DEVPI_URL) | spliced("https://pkgs.example.test/simple/")
UPLOAD_URL = "https://pkgs.example.test/upload/"
upload_urls = st.just(UPLOAD_URL) | spliced(UPLOAD_URL)


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
