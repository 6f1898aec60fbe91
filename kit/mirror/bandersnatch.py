"""One run of bandersnatch for a sync: its settings for this run, the process
followed line by line (progress, the last error), stopped cleanly on Ctrl-C or
SIGTERM, and the result recorded in ``run/last-sync.json``.

bandersnatch writes each page to a temporary file and renames it into place,
so a reader never sees half a page; an interrupted sync leaves its to-do
list in ``data/todo`` and the next one resumes from it.
"""

from __future__ import annotations

import configparser
import os
import re
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timezone

from kit.core.errors import MirrorError, MirrorInterrupted, one_line
from kit.core.report import plural
from kit.mirror.metadata import changed_file_list
from kit.mirror.plan import SyncPlan
from kit.mirror.progress import Progress
from kit.mirror.record import SyncRecord, count_tree, read_serial
from kit.core.report import byte_size
from kit.mirror.upstream_client import is_loopback_url
from kit.site.plan import MirrorPaths, program

__all__ = ["run_bandersnatch", "sync_settings"]


def sync_settings(paths: MirrorPaths, master: str, plan: SyncPlan) -> str:
    """bandersnatch.conf as rendered, with this sync's upstream, storage and resolved projects."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(paths.conf.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MirrorError(f"{paths.conf} is missing; re-create it with kit init") from None
    except (OSError, configparser.Error) as exc:
        raise MirrorError(f"cannot read {paths.conf} ({one_line(exc)}); fix it or re-create it with "
                          "kit init --force") from None
    parser.set("mirror", "directory", str(paths.data))
    parser.set("mirror", "master", master)
    if master.startswith("http:"):
        parser.set("mirror", "allow-non-https", "true")
    # What this run wrote, one path a line: the pages kit adds core metadata to (kit.mirror.metadata).
    parser.set("mirror", "diff-file", str(changed_file_list(paths)))
    parser.set("mirror", "diff-append-epoch", "false")
    for section in ("plugins", "allowlist"):
        parser.remove_section(section)
    if not plan.everything:
        parser.add_section("plugins")
        parser.set("plugins", "enabled", "\nallowlist_project")
        parser.add_section("allowlist")
        parser.set("allowlist", "packages", "".join(f"\n{name}" for name in plan.projects))
    lines = ["; Written by kit mirror sync for its last run, from ../bandersnatch.conf: edit that file instead."]
    with tempfile.SpooledTemporaryFile(mode="w+") as out:
        parser.write(out)
        out.seek(0)
        lines.append(out.read())
    return "\n".join(lines)


def run_bandersnatch(paths: MirrorPaths, master: str, plan: SyncPlan, say: Progress) -> SyncRecord:
    """Run bandersnatch for ``plan`` (``say`` gets one line per project) and record how it ended.

    Raises :class:`MirrorInterrupted` on Ctrl-C or SIGTERM, :class:`MirrorError` when it fails.
    """
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.sync_conf.write_text(sync_settings(paths, master, plan), encoding="utf-8")
    record = SyncRecord(result="running", started=time.time(), projects=len(plan.projects))
    record.write(paths.record)
    env = dict(os.environ)
    if is_loopback_url(master):
        # bandersnatch hands any *_proxy variable to its HTTP client, even for 127.0.0.1
        env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}
    total = len(plan.projects) or "?"
    errors = _Errors()
    interrupted = False
    with open(paths.log, "a", encoding="utf-8") as log:
        log.write(f"\n==== kit mirror sync {datetime.now(timezone.utc).isoformat(timespec='seconds')} ====\n")
        proc = subprocess.Popen([program("bandersnatch"), "-c", str(paths.sync_conf), "mirror"], cwd=paths.run,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=env, start_new_session=True)
        previous = _stop_on_sigterm()
        try:
            for line in proc.stdout:
                log.write(line)
                text = line.rstrip("\n")
                if "Storing index page(s):" in text:
                    record.synced += 1
                    name = text.split("Storing index page(s):", 1)[1].split(" - ", 1)[0].strip()
                    say(f"[{record.synced}/{total}] {name}")
                elif "Resuming interrupted sync" in text:
                    say("resuming the sync that was interrupted")
                else:
                    errors.note(text)
            proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            _stop(proc)
        finally:
            signal.signal(signal.SIGTERM, previous)
    record.finished = time.time()
    record.serial = read_serial(paths.data)
    record.files, record.bytes = count_tree(paths.web / "packages")
    if interrupted:
        record.finish("interrupted", f"interrupted after {record.synced} of {plural(total, 'project')}", paths.record)
        raise MirrorInterrupted(f"sync {record.message}; the pages served are whole, and kit mirror sync "
                                "resumes where it stopped")
    if proc.returncode != 0 or errors.last:
        record.finish("failed", errors.last or f"bandersnatch exited with {proc.returncode}", paths.record)
        raise MirrorError(f"bandersnatch failed: {one_line(record.message)}; see {paths.log}, fix it and run "
                          "kit mirror sync again")
    record.finish("ok", f"{plural(record.synced, 'project')} updated", paths.record)
    say(f"synced: serial {record.serial}, {record.message}, {plural(record.files, 'file')}, "
        f"{byte_size(record.bytes)} in {record.finished - record.started:.1f} s")
    return record


class _Errors:
    """The last error in bandersnatch's log, as one sentence: its ERROR line
    (``Error syncing package: NAME@SERIAL``) and the exception that ends the
    traceback under it (``NotADirectoryError: [Errno 20] …``)."""

    _ERROR = re.compile(r"^\S+ \S+ (?:ERROR|CRITICAL): (.*?)(?: \(\w+\.py:\d+\))?$")

    def __init__(self):
        self.last = ""
        self._in_traceback = False

    def note(self, line: str) -> None:
        error = self._ERROR.match(line)
        if error:
            self.last, self._in_traceback = error.group(1), False
        elif line.startswith("Traceback"):
            self._in_traceback = True
        elif self._in_traceback and line and not line[0].isspace():
            self.last, self._in_traceback = f"{self.last}: {line}" if self.last else line, False


def _stop_on_sigterm():
    """SIGTERM (systemd stopping the unit) ends the sync like Ctrl-C: bandersnatch is stopped cleanly."""
    def stop(_signum, _frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


def _stop(proc: subprocess.Popen) -> None:
    """Stop bandersnatch as Ctrl-C would (it keeps its to-do list for the next run), then harder."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
