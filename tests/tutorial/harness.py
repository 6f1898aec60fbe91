"""The tutorial harness: every console block of every chapter, run in order.

A chapter is a reStructuredText file. Each ``.. code-block:: console`` block
holds steps: a ``$ command`` line (continued with a trailing backslash) and
the output the reader should see. A ``.. hidden-console:`` comment holds steps
a reader never sees (setup or checks). The steps run, in document order, in
the chapter's own folder and environment: HOME is a fresh folder, no PIP_*,
UV_* or TWINE_* variable leaks in, and kit's own environment is first on PATH.

Matching: ``...`` stands for anything (in a line, or as a line of its own);
volatile parts are normalised on both sides first: durations (``1.4 s``),
pids, long hex hashes, and the chapter's HOME shown as ``~``. A step fails
when it exits non-zero or its output does not match; the chapter stops there
and the report shows the command, what the chapter shows, and what happened.
Servers run in the background only through ``kit up``; a chapter must leave
no process running.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sybil import Region, Sybil

from tests.conftest import LEAKY_PREFIXES, processes_under

BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"^\.\. (code-block:: console|hidden-console:)[ \t]*\n((?:[ \t]*\n|   .*\n?)*)", re.M)
_NOT_RUN = ".. not-run:"
#: What the harness counts, for the summary line at the end of the run.
COUNTS = {"commands": 0, "chapters": 0, "not_run": 0}


@dataclass
class Step:
    command: str
    expected: str
    line: int


def parse_steps(body: str, first_line: int) -> list[Step]:
    lines = [line[3:] if line.startswith("   ") else line.strip() for line in body.rstrip("\n").split("\n")]
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if line.strip() and not steps:
                raise ValueError(f"line {first_line + i}: output before any '$ ' command: {line!r}")
            if steps:
                steps[-1].expected += line + "\n"
            i += 1
            continue
        command, number = line[2:], first_line + i
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command + "\n" + lines[i]  # bash joins the lines itself
        heredoc = re.search(r"<<-?'?(\w+)'?", command)
        if heredoc:  # the lines up to the delimiter are the command's input
            while i + 1 < len(lines):
                i += 1
                command += "\n" + lines[i]
                if lines[i].strip() == heredoc.group(1):
                    break
        steps.append(Step(command, "", number))
        i += 1
    for step in steps:
        step.expected = step.expected.strip("\n")
    return steps


def normalise(text: str, home: str) -> str:
    text = text.replace(home, "~")
    text = re.sub(r"\b\d+(\.\d+)? s\b", "N s", text)
    text = re.sub(r"\bpid \d+", "pid N", text)
    text = re.sub(r"\b[0-9a-f]{16,}\b", "HASH", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def matches(expected: str, actual: str) -> bool:
    """Does ``actual`` fit ``expected``, where ``...`` stands for anything?"""
    pattern = ""
    for line in expected.split("\n"):
        if line.strip() == "...":
            pattern += r"(?:.*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.split("...")) + r"\n"
    return re.fullmatch(pattern, actual + "\n") is not None


class ConsoleParser:
    """Yields one region per console block, its steps as the parsed value."""

    def __call__(self, document):
        for match in _BLOCK.finditer(document.text):
            before = document.text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            first_line = document.text[: match.start(2)].count("\n") + 1
            steps = parse_steps(match.group(2), first_line)
            if before.startswith(_NOT_RUN):
                COUNTS["not_run"] += len(steps)
                continue
            if steps:
                yield Region(match.start(), match.end(), steps, evaluate)


def chapter_env(home: Path) -> dict[str, str]:
    # Like a reader's shell: none of this machine's packaging settings, but no
    # PIP_CONFIG_FILE either (chapters set it themselves, as readers do).
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1",
               COLUMNS="200", TERM="dumb", NO_COLOR="1")
    return env


def setup(namespace: dict) -> None:
    home = Path(tempfile.mkdtemp(prefix="kit-chapter-")) / "you"
    home.mkdir()
    namespace.update(home=home, cwd=home, env=chapter_env(home), failed=None)
    COUNTS["chapters"] += 1


def teardown(namespace: dict) -> None:
    """Kill what a chapter left running, then fail loudly about it."""
    home = namespace["home"]
    leftovers = processes_under(home)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.1 if leftovers else 0)
    shutil.rmtree(home.parent, ignore_errors=True)
    if leftovers and not namespace["failed"]:  # after a failed step, the failure says enough
        raise AssertionError(f"the chapter left {len(leftovers)} processes running (pids {leftovers}); end it with kit down")


def run_step(step: Step, namespace: dict) -> str | None:
    """Run one step; None when it did what the chapter shows, else the report."""
    command = step.command
    env, home = namespace["env"], str(namespace["home"])
    cd = re.fullmatch(r"cd (\S+)", command)
    if cd:  # the shell's own state: kept across steps by the harness
        target = (namespace["cwd"] / os.path.expanduser(cd.group(1).replace("~", home))).resolve()
        if not target.is_dir():
            return _report(step, f"cd: no such folder {target}", None)
        namespace["cwd"] = target
        return None
    export = re.fullmatch(r"export (\w+)=(.*)", command)
    if export:
        value = subprocess.run(["bash", "-c", f"printf %s {export.group(2)}"], env=env, cwd=namespace["cwd"],
                               capture_output=True, text=True).stdout
        env[export.group(1)] = value
        return None
    proc = subprocess.run(["bash", "-c", command], cwd=namespace["cwd"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    actual = normalise(proc.stdout, home)
    if proc.returncode != 0:
        return _report(step, actual, proc.returncode)
    if not matches(normalise(step.expected, home), actual):
        return _report(step, actual, None)
    return None


def _report(step: Step, actual: str, code: int | None) -> str:
    why = f"exited with code {code}" if code is not None else "printed something else"
    return (
        f"step at line {step.line} {why}\n"
        f"--- command\n$ {step.command}\n--- the chapter shows\n{step.expected}\n--- it printed\n{actual}\n"
    )


def evaluate(example) -> str | None:
    namespace = example.namespace
    if namespace["failed"]:
        pytest.skip(f"an earlier step failed (line {namespace['failed']})")
    for step in example.parsed:
        COUNTS["commands"] += 1
        failure = run_step(step, namespace)
        if failure:
            namespace["failed"] = step.line
            return failure
    return None


def tutorial_sybil(path: str) -> Sybil:
    return Sybil(parsers=[ConsoleParser()], path=path, pattern="*.rst", setup=setup, teardown=teardown)
