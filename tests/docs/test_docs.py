"""The documentation site builds with warnings as errors, offline (the ``built``
fixture, in conftest.py), and its reference pages are generated from kit itself."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from kit.site.answers import QUESTIONS

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_lists_every_command(built):
    page = (built / "reference" / "cli.html").read_text()
    for command in ("init", "clients", "up", "down", "status", "logs", "check", "tour", "sample"):
        assert f'<span class="pre">kit</span> <span class="pre">{command}</span></code><a class="headerlink"' in page, command
    for group, command in (("mirror", "sync"), ("mirror", "verify"), ("mirror", "status"), ("drill", "failover")):
        assert (f'<span class="pre">kit</span> <span class="pre">{group}</span> <span class="pre">{command}</span></code>'
                f'<a class="headerlink"') in page, (group, command)


def test_answers_reference_lists_every_key(built):
    page = (built / "reference" / "answers.html").read_text()
    for question in QUESTIONS:
        assert question.key in page


def test_readme_answer_table_lists_every_key_and_choice():
    """The README's table once lacked mirror_projects, devpi_upstream and the public-mirror setup."""
    from kit.site.answers import DEVPI_UPSTREAMS, EDGES, SETUPS, TOOLS

    table = (ROOT / "README.md").read_text().split("### Answer keys (`kit.toml`)")[1].split("\n#")[0]
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `([a-z_]+)` \| .*? \| (.*) \|$", table, re.M)}
    assert list(rows) == [q.key for q in QUESTIONS]  # every key, in the order the wizard asks
    for key, choices in (("setups", SETUPS), ("clients", TOOLS), ("edge", EDGES), ("devpi_upstream", DEVPI_UPSTREAMS)):
        assert [c for c in choices if f"`{c}`" not in rows[key]] == [], key


def test_tutorial_chapters_are_included_not_copied(built):
    for chapter in sorted((ROOT / "tutorial").glob("0*.rst")):
        source = (ROOT / "docs" / "tutorial" / chapter.name).read_text()
        assert source.strip() == f".. include:: ../../tutorial/{chapter.name}"
        title = chapter.read_text().splitlines()[0]
        assert title.split(":")[0] in (built / "tutorial" / chapter.with_suffix(".html").name).read_text()
    # hidden and not-run markers are comments: nothing of them reaches the page
    assert "not-run" not in (built / "tutorial" / "00-before-the-day.html").read_text()


def test_explanation_and_howtos_are_there(built):
    for page in ("explanation/history", "explanation/architecture", "howto/migrate-from-extra-index-url",
                 "howto/add-a-team", "howto/rotate-credentials", "howto/move-to-tls", "howto/restore-from-backup",
                 "howto/promote-the-mirror", "howto/alert-on-mirror-lag", "howto/size-a-site", "howto/run-the-public-mirror",
                 "howto/deploy-with-systemd"):
        assert (built / f"{page}.html").is_file(), page


def test_front_page_starts_with_the_install_and_the_first_three_commands(built):
    page = (built / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    body = text[text.index("Install, and the first three commands"):]
    first = body[: body.index("Tutorial")]
    first = " ".join(html.unescape(first).replace("\\\n", " ").split())
    for command in ("pip install pkgindex_kit-0.1.0-py3-none-any.whl",
                    "pip install --no-index --find-links ~/kit-wheelhouse 'pkgindex-kit[tutorial]'",
                    "source ~/kit-venv/bin/activate", "kit tour", "kit init my-site", "kit up my-site"):
        assert command in first, command


def test_console_output_is_highlighted_as_output(built):
    """Pygments' console lexer took output lines starting with "#" (a pip.conf's
    comments) for root-prompt commands."""
    page = (built / "tutorial" / "01-private-mirror.html").read_text()
    assert '<span class="go"># pip settings for team &quot;team&quot;: install from root/pypi only.</span>' in page
    assert '<span class="gp"># </span>' not in page and '<span class="gp">#</span>' not in page
    assert page.count('<span class="gp">$ </span>') >= 15


#: Characters of a code line that fit furo's content column at a 1280 px window
#: (40em of text, code at 13 px monospace, less the block's padding).
FITS_1280 = 76
_CODE = re.compile(r"^([ \t]*)\.\. code-block:: ([\w-]+)[^\n]*\n((?:[ \t]*\n|\1   .*\n?)*)", re.M)


def _too_wide(path: Path) -> list[str]:
    """Drawings and commands wider than FITS_1280 (console output may be wider: it scrolls, by kit.css)."""
    found = []
    text = path.read_text()
    for match in _CODE.finditer(text):
        lang, margin = match.group(2), len(match.group(1)) + 3
        first = text[: match.start(3)].count("\n") + 1
        continued = False
        for number, line in enumerate(match.group(3).split("\n"), first):
            body = line[margin:]
            if lang == "console":
                is_command = body.startswith("$ ") or continued
                continued = is_command and body.endswith("\\")
                if not is_command:
                    continue
            if len(body) > FITS_1280:
                found.append(f"{path.relative_to(ROOT)}:{number}: {len(body)} characters")
    return found


def test_drawings_and_commands_fit_at_1280_px():
    pages = sorted((ROOT / "tutorial").glob("*.rst")) + sorted(
        p for p in (ROOT / "docs").rglob("*.rst") if "_build" not in p.parts and "tutorial" not in p.parts)
    too_wide = [line for page in pages for line in _too_wide(page)]
    assert too_wide == []


def _css_rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """Each rule of a style sheet: its selector and its declarations (comments and @-blocks' heads dropped)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(d.split(":", 1) for d in body.split(";") if ":" in d)
        rules.append((" ".join(selector.split("@")[-1].split()),
                      {k.strip(): v.strip() for k, v in declarations.items()}))
    return rules


def test_console_blocks_scroll_instead_of_wrapping(built):
    """A wide output line (the columns of kit status and kit check) scrolls sideways as in a
    terminal: kit.css, the last style sheet of every page, sets the console blocks' pre so, and
    no style sheet of the site makes a pre wrap."""
    page = (built / "tutorial" / "04-cluster.html").read_text()
    sheets = re.findall(r'<link rel="stylesheet"[^>]* href="\.\./_static/([^"?]+)', page)
    assert sheets[-1] == "kit.css", sheets
    rules = dict(_css_rules((built / "_static" / "kit.css").read_text()))
    console = rules["div.highlight-console pre"]
    assert console["white-space"] == "pre" and console["overflow-x"] == "auto", console
    assert console["overflow-wrap"] == "normal", console  # furo's article sets break-word, inherited
    wrapping = [(sheet.name, selector) for sheet in (built / "_static").rglob("*.css")
                for selector, declarations in _css_rules(sheet.read_text())
                if re.search(r"\bpre\b|highlight", selector)
                and declarations.get("white-space", "").startswith(("pre-wrap", "pre-line", "break-spaces", "normal"))]
    assert wrapping == []


def test_the_width_check_catches_a_wide_drawing(tmp_path):
    page = ROOT / "docs" / "wide-probe.rst"
    try:
        page.write_text("x\n=\n\n.. code-block:: text\n\n   " + "─" * 90 + "\n")
        assert _too_wide(page) == ["docs/wide-probe.rst:6: 90 characters"]
    finally:
        page.unlink()


def test_read_the_docs_builds_like_ci():
    """One click publishes the guide: same Python, the docs extra the README's docs command installs, warnings fail."""
    import tomllib

    import yaml

    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    assert config["sphinx"] == {"configuration": "docs/conf.py", "fail_on_warning": True}
    (install,) = config["python"]["install"]
    assert install == {"method": "pip", "path": ".", "extra_requirements": ["docs"]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {r.split(">")[0].split("[")[0] for r in extras["docs"]} == {"sphinx", "furo", "sphinx-copybutton"}
    assert any(r.startswith("pkgindex-kit[") and "docs" in r for r in extras["test"])  # CI builds the docs too
    readme = (ROOT / "README.md").read_text()
    docs_section = readme.split("## Documentation")[1].split("\n## ")[0]
    assert "pip install '.[docs]'" in docs_section or "pip install -e '.[docs]'" in docs_section
    floor = project["requires-python"].removeprefix(">=")
    assert config["build"]["tools"]["python"] == floor  # CI's python3 is that release too


def _all_prose() -> str:
    pages = sorted((ROOT / "tutorial").glob("*.rst")) + sorted(
        p for p in (ROOT / "docs").rglob("*.rst") if "_build" not in p.parts)
    return "\n".join(" ".join(p.read_text().split()) for p in pages)


@pytest.mark.parametrize("claim", [
    "every installation in the world failed",  # the 2010 mirrors could take over for those pointed at them
    "stayed open",  # PEP 381 answered freshness (/last-modified) and trust (/serversig) in 2010
    "Someone had asked",  # the question is Martin von Löwis's
    "installers pick the best version across both",  # pip does; uv takes the first index by default
])
def test_history_claims_the_sources_contradict_are_gone(claim):
    assert claim.lower() not in _all_prose().lower()


def test_quotes_are_credited_and_the_record_is_dated():
    prose = _all_prose()
    quote = "What piece of software would implement the fallback to the next machine?"
    for place in [i for i in range(len(prose)) if prose.startswith(quote, i)]:
        assert "Martin von Löwis" in prose[max(0, place - 200): place], prose[place - 200: place]
    history = " ".join((ROOT / "docs" / "explanation" / "history.rst").read_text().split())
    for fact in ("September 2011", "/last-modified", "/serversig", "PEP 449", "PEP 464",
                 "The proposal itself noted", "comes from the same server"):
        assert fact in history, fact
