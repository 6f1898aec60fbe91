"""Every error kit raises on purpose.

The tree::

    KitError                    base class; the CLI prints it as one line, exit 2
    ├── AnswerError             a value is invalid (bad URL, port, team name…)
    │   └── UnknownKeyError     an answer key kit does not know
    ├── AnswerFileError         kit.toml (or --answers FILE) is unreadable
    ├── SiteDirError            the target folder cannot hold a site
    ├── HandEditedError         generated files were edited by hand
    ├── NotATerminalError       a wizard was asked for without a terminal
    ├── ClientsError            ``kit clients`` cannot do what it was asked
    │   └── OutDirError         ``--out DIR`` cannot take the files
    ├── UnsafeValueError        a value would change the syntax of a file kit writes
    ├── ClusterError            the cluster cannot start, stop or answer (exit 1)
    ├── ClientRunError          a client kit runs for you (pip, twine) failed (exit 1)
    ├── DevpiError              devpi-server refused or did not answer an API call (exit 1)
    ├── DrillError              ``kit drill`` cannot run: cluster not up, no project to install
    ├── BenchError              ``kit bench`` cannot run: the cluster not up, its bench index refused
    ├── WheelhouseError         ``kit wheelhouse`` cannot collect or check the wheels (exit 1)
    ├── SecretError             a shared secret's file is missing, open to others or holds no token
    ├── CoreMetadataError       a wheel's METADATA cannot be read (not a wheel, bad zip, none, too big)
    └── MirrorError             the public mirror cannot be synced, verified or read (exit 1)
        ├── MirrorStorageError  its storage is not writable or too small
        └── MirrorInterrupted   a sync was stopped by Ctrl-C or SIGTERM (exit 130)

Each message names the problem and the fix in one sentence, because it is
shown to the user as it is.
"""

__all__ = [
    "KitError", "AnswerError", "UnknownKeyError", "AnswerFileError", "SiteDirError", "HandEditedError",
    "NotATerminalError", "ClientsError", "OutDirError", "UnsafeValueError", "ClusterError", "ClientRunError",
    "DevpiError", "DrillError", "BenchError", "WheelhouseError", "SecretError", "CoreMetadataError", "MirrorError",
    "MirrorStorageError", "MirrorInterrupted", "one_line",
]


class KitError(Exception):
    """Base class of kit's own errors; never raised directly."""

    exit_code = 2


class AnswerError(KitError):
    """Raised when an answer has an invalid value (from the wizard, a file or --set)."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class UnknownKeyError(AnswerError):
    """Raised when an answer key is not one kit knows, with a did-you-mean if close."""


class AnswerFileError(KitError):
    """Raised when an answer file is missing, not TOML, or not a table of answers."""


class SiteDirError(KitError):
    """Raised when the site folder is unwritable, a file, or non-empty and not a kit site."""


class HandEditedError(KitError):
    """Raised when re-running ``kit init`` would overwrite files edited by hand."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"files edited by hand would be overwritten: {shown}; "
            "move your changes aside or re-run with --force to overwrite them"
        )


class NotATerminalError(KitError):
    """Raised when the interactive wizard is needed but standard input is not a terminal."""


class ClientsError(KitError):
    """Raised when ``kit clients`` is given an index URL or tool it cannot handle."""


class OutDirError(ClientsError):
    """Raised when ``kit clients --out DIR`` names a file, a folder under a file,
    a folder kit cannot write, or one holding other files of the same names."""


class UnsafeValueError(KitError):
    """Raised when a template is asked to write a value that would escape its
    file's syntax (a line break in an INI value…); the validators refuse such
    values first, so this is the second wall."""


class ClusterError(KitError):
    """Raised when a cluster service cannot start (busy port, failed start), or is asked for by a wrong name."""

    exit_code = 1


class ClientRunError(KitError):
    """Raised when a client program kit runs on the user's behalf (pip in the
    tour, twine in ``kit catch-up``) fails; the message ends with its last lines."""

    exit_code = 1


class DevpiError(KitError):
    """Raised when devpi-server answers one of kit's API calls with an error, or does not answer it."""

    exit_code = 1


class DrillError(KitError):
    """Raised when ``kit drill`` cannot run: the cluster is not up and healthy, the mirror is not
    in sync, or the index serves no project to install (or not the one given with --project).
    Exit 2, so that a script tells "the drill did not run" from "installs failed" (exit 1)."""


class BenchError(KitError):
    """Raised when ``kit bench`` cannot run: the cluster is not up and healthy, the master
    refuses the bench index or an upload to it, or nginx (its static reference) fails to start.
    Exit 2, as for ``kit drill``: "the bench did not run", where failed requests exit 1."""


class WheelhouseError(KitError):
    """Raised when ``kit wheelhouse`` cannot fill its folder: pip cannot reach the index, finds no
    wheel of kit or of a project for a Python or platform asked for, or the folder does not install offline."""

    exit_code = 1


class SecretError(KitError):
    """Raised when a shared secret's file (the purge secret) breaks one of
    :mod:`kit.core.secrets`' rules: missing when required, not a file, open to
    every user, unreadable, empty, or not one token."""


class CoreMetadataError(KitError):
    """Raised when a wheel's core metadata (its ``.dist-info/METADATA``) cannot be
    extracted: the file is not a wheel, not a readable zip, holds no METADATA or
    several candidates, or one too large to be real."""

    exit_code = 1


class MirrorError(KitError):
    """Raised when the public mirror cannot be synced (a project the upstream
    does not have, an unreachable upstream, bandersnatch failing), verified or read."""

    exit_code = 1


class MirrorStorageError(MirrorError):
    """Raised when the mirror's storage folder cannot be written, or has less room than the sync needs."""


class MirrorInterrupted(MirrorError):
    """Raised when a sync is stopped (Ctrl-C, SIGTERM) before it finished; the next one resumes it."""

    exit_code = 130


def one_line(exc: BaseException) -> str:
    """Any exception's message on one line (at most 160 characters), or its class name when it has none."""
    return " ".join(str(exc).split())[:160] or exc.__class__.__name__
