"""The tutorial harness: every console block of every chapter, run as a
reader types it.

A chapter is a reStructuredText file. Each ``.. code-block:: console`` block
holds steps: a ``$ command`` line (continued with a trailing backslash, or
followed by a heredoc) and the output the reader should see. Comments before
a block change how it runs:

- ``.. hidden-console:`` holds steps a reader never sees (setup or checks);
- ``.. not-run: REASON`` is shown but never run (it needs the LAN, say);
- ``.. catch-up:`` is the chapter's one-command catch-up: run when the
  chapter is run alone, skipped in one sitting (the earlier chapters did it).

Two ways of reading are run:

**One sitting** (sybil, ``tutorial/*.rst`` in order): all chapters in one
home folder, one shell. Each step runs in bash with the shell state the
earlier steps left — the folder (``cd``), the variables (``export``,
``unset``, ``source ~/kit-venv/bin/activate``) — exactly as a reader's
terminal keeps it. Nothing of the test environment is on PATH: chapter 0's
``pip install`` installs kit offline from ``~/kit-wheelhouse``, which the
test environment's ``kit wheelhouse`` made (the instructor's step) from a
stand-in for PyPI that holds kit's freshly built wheel (see
:mod:`tests.tutorial.wheelhouse`), and every later chapter uses that
installation.

**Alone** (``tests/tutorial/test_alone.py``): each chapter from a fresh home,
kit and the clients from the test environment, starting with its catch-up.

Matching: ``...`` stands for anything (in a line, or as a line of its own);
volatile parts are normalised on both sides first: durations (``1.4 s``),
pids, long hex hashes, and HOME shown as ``~``. A step fails when it exits
non-zero or its output does not match; the reading stops there and the report
shows the command, what the chapter shows, and what happened. Servers run in
the background only through ``kit up``; a chapter must leave none running.
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
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sybil import Region, Sybil

from tests.conftest import LEAKY_PREFIXES, processes_under

BIN = Path(sys.executable).parent
#: A console block, at the top level or indented (in a numbered list): its indent, kind and body.
_BLOCK = re.compile(r"^([ \t]*)\.\. (code-block:: console|hidden-console:)[^\n]*\n((?:[ \t]*\n|\1   .*\n?)*)", re.M)
_DIRECTIVE = re.compile(r"^\.\. (not-run|catch-up):")
#: Variables bash sets itself; never carried from one step to the next.
_SHELL_OWN = {"_", "PWD", "OLDPWD", "SHLVL", "BASH_EXECUTION_STRING"}
#: What the sitting counts, for the summary line at the end of the run.
COUNTS = {"commands": 0, "chapters": 0, "not_run": 0, "catch_up": 0, "seconds": 0.0}


@dataclass
class Step:
    command: str
    expected: str
    line: int


@dataclass
class Block:
    kind: str  # "shown", "hidden", "not-run" or "catch-up"
    steps: list[Step]
    start: int
    end: int


def parse_steps(body: str, first_line: int, indent: str = "") -> list[Step]:
    margin = indent + "   "
    lines = [line[len(margin):] if line.startswith(margin) else line.strip() for line in body.rstrip("\n").split("\n")]
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


def chapter_blocks(text: str) -> list[Block]:
    """Every console block of a chapter, in order, with how it is to be run."""
    blocks = []
    for match in _BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        first_line = text[: match.start(3)].count("\n") + 1
        steps = parse_steps(match.group(3), first_line, match.group(1))
        directive = _DIRECTIVE.match(before)
        if match.group(2) == "hidden-console:":
            kind = "hidden"
        else:
            kind = directive.group(1) if directive else "shown"
        if steps:
            blocks.append(Block(kind, steps, match.start(), match.end()))
    return blocks


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


# -- the reader's shell --------------------------------------------------------


def _without_bin(path: str) -> str:
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and Path(p) != BIN)


#: What a reader's laptop rarely sets, and what makes requests (under pip and twine) and curl
#: ignore the CA a tool was given (pip.conf's cert): some test machines set them to the system's bundle.
_CA_OVERRIDES = {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}


def reader_env(home: Path, *, kit_on_path: bool) -> dict[str, str]:
    """A reader's shell: none of this machine's packaging settings, no
    PIP_CONFIG_FILE (chapters set it, as readers do). With ``kit_on_path``
    the test environment's kit and clients are found (a chapter run alone);
    without, only what the chapters install (one sitting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES) and k not in _CA_OVERRIDES}
    path = _without_bin(env.get("PATH", ""))
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{path}" if kit_on_path else path,
               PIP_DISABLE_PIP_VERSION_CHECK="1", COLUMNS="200", TERM="dumb", NO_COLOR="1")
    return env


# -- a network of the reader's own -------------------------------------------------

#: Run by ``unshare --net``: bring the new namespace's loopback up, say so, then hold
#: the namespace open until killed. (No ``ip`` needed: the SIOCSIFFLAGS ioctl.)
_HOLDER = """
import fcntl, signal, socket, struct
ifreq = struct.pack("16sH14s", b"lo", 0, b"")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, ifreq))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))
print("up", flush=True)
signal.pause()
"""


class PrivateNetwork:
    """A network namespace with nothing but its own loopback, for one reader.

    The chapters use kit's default ports (127.0.0.1:3141-3145), as a reader
    would; in a namespace of their own those are free even while another kit
    cluster (or anything else) listens on them on the machine. Every command of
    the reading runs in it through ``nsenter``; what it starts stays in it.
    """

    def __init__(self) -> None:
        self._holder = subprocess.Popen(["unshare", "--net", "--", sys.executable, "-c", _HOLDER],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self._holder.stdout.readline().strip() != "up":
            self._holder.kill()
            raise RuntimeError(f"cannot make a network namespace: {self._holder.stderr.read().strip()}")
        self.prefix = ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net", "--"]

    @staticmethod
    def possible() -> bool:
        """Root with util-linux's unshare and nsenter (CI); elsewhere the reading shares the machine's network."""
        return os.geteuid() == 0 and bool(shutil.which("unshare")) and bool(shutil.which("nsenter"))

    def close(self) -> None:
        self._holder.kill()
        self._holder.wait()


def private_network() -> PrivateNetwork | None:
    return PrivateNetwork() if PrivateNetwork.possible() else None


@dataclass
class Shell:
    """What a terminal keeps between commands: the folder and the variables."""

    home: Path
    env: dict[str, str]
    #: What every command runs under: the reader's own network, when there is one.
    prefix: list[str] = field(default_factory=list)
    cwd: Path = field(init=False)

    def __post_init__(self) -> None:
        self.cwd = self.home

    def run(self, command: str, timeout: float = 600) -> tuple[int, str]:
        """Run ``command`` in bash as typed; keep its cd, exports and sourced scripts."""
        with tempfile.TemporaryDirectory(prefix="kit-shell-") as tmp:
            state = Path(tmp)
            script = (
                f"{command}\n"
                f"__kit_rc=$?\n"
                f"pwd > {state}/cwd; env -0 > {state}/env\n"
                f"exit $__kit_rc\n"
            )
            proc = subprocess.run([*self.prefix, "bash", "-c", script], cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout)
            if (state / "cwd").is_file():
                self.cwd = Path((state / "cwd").read_text().strip())
                pairs = (item.split("=", 1) for item in (state / "env").read_text().split("\0") if "=" in item)
                self.env = {k: v for k, v in pairs if k not in _SHELL_OWN}
        return proc.returncode, proc.stdout


def run_step(step: Step, shell: Shell) -> str | None:
    """Run one step; None when it did what the chapter shows, else the report."""
    code, out = shell.run(step.command)
    home = str(shell.home)
    actual = normalise(out, home)
    if code != 0:
        return _report(step, actual, code)
    if not matches(normalise(step.expected, home), actual):
        return _report(step, actual, None)
    return None


def _report(step: Step, actual: str, code: int | None) -> str:
    why = f"exited with code {code}" if code is not None else "printed something else"
    return (
        f"step at line {step.line} {why}\n"
        f"--- command\n$ {step.command}\n--- the chapter shows\n{step.expected}\n--- it printed\n{actual}\n"
    )


def leftover_processes(home: Path) -> list[int]:
    """Kill what a reading left running under ``home``; return their pids."""
    leftovers = processes_under(home)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.1 if leftovers else 0)
    return leftovers


# -- one sitting (sybil) -------------------------------------------------------


@dataclass
class Sitting:
    """One reader, all chapters, one home folder and one shell."""

    root: Path
    shell: Shell
    index: StandIn
    network: PrivateNetwork | None = None
    failed: str | None = None
    started: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        leftover_processes(self.shell.home)
        self.index.close()
        if self.network:
            self.network.close()
        shutil.rmtree(self.root, ignore_errors=True)


class StandIn:
    """The stand-in for PyPI: ``python -m kit.upstream`` over a folder, in the reader's network."""

    PORT = 3100  # the namespace is the reader's alone; outside one, any free port

    def __init__(self, folder: Path, network: PrivateNetwork | None) -> None:
        from kit.cluster.lifecycle import free_ports

        self.prefix = network.prefix if network else []
        port = self.PORT if network else free_ports(1)[0]
        self.url = f"http://127.0.0.1:{port}/simple/"
        self._proc = subprocess.Popen([*self.prefix, str(BIN / "python"), "-m", "kit.upstream", str(folder),
                                       "--host", "127.0.0.1", "--port", str(port)],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # It says "serving … as URL" once its socket listens (or ends, saying nothing, when it cannot).
        if not self._proc.stdout.readline().startswith("serving "):
            self.close()
            raise RuntimeError(f"the stand-in index did not start at {self.url}")

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


_SITTING: list[Sitting] = []


def _start_sitting() -> Sitting:
    from tests.tutorial.wheelhouse import build_wheelhouse

    root = Path(tempfile.mkdtemp(prefix="kit-sitting-"))
    build_wheelhouse(root / "index")
    network = private_network()
    index = StandIn(root / "index", network)
    home = root / "you"
    # The reader's own pip settings: PyPI, played by the local index.
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        f"[global]\nindex-url = {index.url}\nextra-index-url =\nfind-links =\n"
    )
    # What the instructor handed out: the folder kit wheelhouse made the day before, from "PyPI".
    instructor = reader_env(root / "instructor", kit_on_path=True)
    made = subprocess.run([*index.prefix, str(BIN / "kit"), "wheelhouse", str(home / "kit-wheelhouse"), "--index-url", index.url,
                           "--no-input"], env=dict(instructor, PIP_CONFIG_FILE=os.devnull),
                          capture_output=True, text=True, timeout=600)
    if made.returncode != 0:
        raise RuntimeError(f"kit wheelhouse failed:\n{made.stdout}\n{made.stderr}")
    return Sitting(root, Shell(home, reader_env(home, kit_on_path=False), index.prefix), index, network)


#: What chapter 0 once asked readers to install after kit, one by one; now kit's tutorial extra.
CLIENTS = ("uv", "zc.buildout", "zc.recipe.egg", "poetry", "pdm[locked]")


def sitting() -> Sitting:
    if not _SITTING:
        _SITTING.append(_start_sitting())
    return _SITTING[0]


def end_sitting() -> None:
    if _SITTING:
        _SITTING.pop().close()


class ConsoleParser:
    """Yields one region per block a reader runs in one sitting (catch-ups are skipped)."""

    def __call__(self, document):
        for block in chapter_blocks(document.text):
            if block.kind == "not-run":
                COUNTS["not_run"] += len(block.steps)
            elif block.kind == "catch-up":
                COUNTS["catch_up"] += len(block.steps)
            else:
                yield Region(block.start, block.end, block.steps, evaluate)


def setup(namespace: dict) -> None:
    namespace["failed"] = None
    COUNTS["chapters"] += 1


def teardown(namespace: dict) -> None:
    """A chapter must end with nothing running: kill it, then fail loudly about it."""
    current = sitting()
    COUNTS["seconds"] = time.monotonic() - current.started  # the reading so far, up to this chapter's end
    leftovers = leftover_processes(current.shell.home)
    if leftovers and not current.failed:
        current.failed = "a chapter left processes running"
        raise AssertionError(f"the chapter left {len(leftovers)} processes running (pids {leftovers}); end it with kit down")


def evaluate(example) -> str | None:
    current = sitting()
    if current.failed:
        pytest.skip(f"an earlier step failed ({current.failed}); one sitting stops there")
    for step in example.parsed:
        COUNTS["commands"] += 1
        failure = run_step(step, current.shell)
        if failure:
            current.failed = f"{Path(example.path).name} line {step.line}"
            return failure + log_tails(current.shell.home)
    return None


def tutorial_sybil(path: str) -> Sybil:
    return Sybil(parsers=[ConsoleParser()], path=path, pattern="*.rst", setup=setup, teardown=teardown)


# -- a chapter alone -------------------------------------------------------------


def log_tails(home: Path, lines: int = 25) -> str:
    """The last lines of every cluster log under ``home``: what a failure report needs
    when a service misbehaved in CI, where the folder is gone afterwards."""
    parts = []
    for log in sorted(home.glob("*/cluster/run/logs/*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.relative_to(home)} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n" + "\n".join(parts) if parts else ""


def run_chapter_alone(chapter: Path) -> str | None:
    """Run one chapter (or how-to page) from a fresh home, catch-up first; None or the failure report."""
    root = Path(tempfile.mkdtemp(prefix="kit-alone-"))
    home = root / "you"
    home.mkdir()
    network = private_network()
    shell = Shell(home, reader_env(home, kit_on_path=True), network.prefix if network else [])
    try:
        for block in chapter_blocks(chapter.read_text()):
            if block.kind == "not-run":
                continue
            for step in block.steps:
                failure = run_step(step, shell)
                if failure:
                    return f"{chapter.name} alone: {failure}{log_tails(home)}"
        leftovers = leftover_processes(home)
        if leftovers:
            return f"{chapter.name} alone left {len(leftovers)} processes running; end it with kit down"
        return None
    finally:
        leftover_processes(home)
        if network:
            network.close()
        shutil.rmtree(root, ignore_errors=True)
