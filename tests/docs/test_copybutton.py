"""What a reader copies into a real terminal, and sees there, is what the
tutorial harness runs and shows.

Chapter 0 tells readers to copy commands with the button. sphinx-copybutton
decides what to copy in JavaScript (``formatCopyText``): the lines after a
``$ `` prompt, the lines a trailing ``\\`` continues and a heredoc's body only
when docs/conf.py names the continuation character and the heredoc delimiter.
Without them, every continued command and every heredoc lost all its lines
after the first (in chapter 1, the options of ``kit init``). This test runs that very function, as the built site renders it
(the settings of docs/conf.py baked in), with node, over the text of every
console block of every chapter and how-to page of the built HTML — the
``<pre>`` text the browser hands the button — and compares it with the
commands the harness parses from the same block.

The harness runs without a terminal, where ``ls`` prints one name a line; a
reader's terminal gets columns unless the page asks for ``ls -1``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tutorial.harness import chapter_blocks

ROOT = Path(__file__).resolve().parents[2]
#: Each page with console blocks: its source and where the site puts it.
PAGES = [(p, f"tutorial/{p.stem}.html") for p in sorted((ROOT / "tutorial").glob("0*.rst"))] + [
    (p, f"howto/{p.stem}.html") for p in sorted((ROOT / "docs" / "howto").glob("*.rst"))]
#: A console block of the built page: the ``<pre>`` the copy button reads.
_CONSOLE_PRE = re.compile(r'<div class="highlight-console[^"]*"><div class="highlight"><pre>(.*?)</pre>', re.S)
#: The copy button's prompt, as docs/conf.py sets it.
PROMPT = "$ "


def pre_texts(page: str) -> list[str]:
    """The text of each console block, as the browser gives it (tags gone, entities decoded)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", pre)) for pre in _CONSOLE_PRE.findall(page)]


def copy_rule(built: Path) -> str:
    """sphinx-copybutton's ``formatCopyText`` and the call the rendered copybutton.js makes."""
    script = (built / "_static" / "copybutton.js").read_text()
    funcs = script[script.index("function escapeRegExp("): script.index("var copyTargetText")]
    call = re.search(r"return (formatCopyText\(text, .*\))\s*$", script, re.M).group(1)
    return f"{funcs}\nconst copy = (text) => {call};\n"


def copied(built: Path, texts: list[str]) -> list[str]:
    """What the copy button puts on the clipboard for each text, by its own code run in node."""
    program = copy_rule(built) + (
        "const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "process.stdout.write(JSON.stringify(texts.map(copy)));\n"
    )
    proc = subprocess.run(["node", "-e", program], input=json.dumps(texts), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def without_blank_lines(text: str) -> str:
    """A blank line pasted between commands does nothing; inside a heredoc the button keeps every line."""
    return "\n".join(line for line in text.split("\n") if line.strip())


@pytest.fixture(scope="module")
def node() -> None:
    if not shutil.which("node"):
        pytest.skip("node is not installed: sphinx-copybutton's rule is JavaScript, run by node (apt install nodejs)")


@pytest.mark.parametrize(("source", "page"), PAGES, ids=[p.stem for p, _ in PAGES])
def test_the_copy_button_copies_what_the_harness_runs(node, built, source, page):
    shown = [block for block in chapter_blocks(source.read_text()) if block.kind != "hidden"]
    # Blocks without a prompt (output alone) are copied whole and the harness runs nothing of them.
    texts = [text for text in pre_texts((built / page).read_text())
             if any(line.startswith(PROMPT) for line in text.split("\n"))]
    assert len(texts) == len(shown), f"{page}: {len(texts)} console blocks with commands, {source.name}: {len(shown)}"
    differ = []
    for block, clipboard in zip(shown, copied(built, texts)):
        runs = "\n".join(step.command for step in block.steps)
        if without_blank_lines(clipboard) != without_blank_lines(runs):
            differ.append(f"{source.relative_to(ROOT)}:{block.steps[0].line}: the copy button copies\n{clipboard}\n"
                          f"--- the harness runs\n{runs}\n")
    assert not differ, "\n".join(differ)


def test_every_multi_line_command_is_checked():
    """The pages hold continued commands and heredocs, so the comparison above is not vacuous."""
    commands = [step.command for source, _ in PAGES for block in chapter_blocks(source.read_text())
                if block.kind != "hidden" for step in block.steps]
    assert sum("\\\n" in c for c in commands) >= 20
    assert sum("<<'EOF'" in c for c in commands) >= 5


def test_ls_shows_one_name_a_line_in_a_terminal_too():
    """In a terminal ls prints names in columns; the harness has no terminal and gets one a line.
    Where a page shows several names one a line, the command asks for that with -1 (or -l)."""
    columns = []
    for source, _ in PAGES:
        for block in chapter_blocks(source.read_text()):
            for step in block.steps:
                ls = re.match(r"ls((?: -\w+)*)", step.command)
                names = [line for line in step.expected.split("\n") if line.strip() and line.strip() != "..."]
                if ls and len(names) > 1 and "|" not in step.command and not re.search(r"[1l]", ls.group(1)):
                    columns.append(f"{source.relative_to(ROOT)}:{step.line}: {step.command}")
    assert columns == []
