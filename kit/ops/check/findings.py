"""What ``kit check`` reports: a :class:`Finding` per check, the commands a
fix names (:class:`Hints`), and what the team checks need to know of the
site's cluster (:class:`ClusterState`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hints:
    """The commands a fix names, written for the user's current folder."""

    up: str = "kit up"
    status: str = "kit status"
    init: str = "kit init"
    down: str = "kit down"


@dataclass
class Finding:
    team: str
    check: str
    ok: bool
    detail: str
    fix: str = ""
    #: A warning is shown but does not fail the check (exit code), unless ``kit check --strict``
    #: and it ``admits_attacker``.
    warning: bool = False
    #: What it warns about lets another source's package in (an extra index, a name on two teams).
    admits_attacker: bool = False

    @property
    def result(self) -> str:
        return "pass" if self.ok else "warn" if self.warning else "FAIL"


@dataclass
class ClusterState:
    """What the team checks need to know of the site's cluster."""

    #: Any service runs: with none, the team checks that need a server are not made.
    running: bool = True
    #: A service accepts connections but does not answer: calls through it would each wait a timeout.
    hung: bool = False
    #: Services not running (``kit up`` starts them) ...
    stopped: list[str] = field(default_factory=list)
    #: ... and services running but not healthy (``kit up`` refuses to start beside them).
    unhealthy: list[str] = field(default_factory=list)

    def cause(self, up: str, needs: tuple[str, ...]) -> str:
        """The fix for a team check that failed through the cluster, when a
        service it ``needs`` is down ("" when none is: the check's own fix holds)."""
        stopped = [name for name in self.stopped if name in needs]
        unhealthy = [name for name in self.unhealthy if name in needs]
        if unhealthy:
            return f"{and_(unhealthy + stopped)} {are(unhealthy + stopped)} not healthy (see the cluster rows); fix that first"
        if stopped:
            return f"{and_(stopped)} {are(stopped)} not running; start {'it' if len(stopped) == 1 else 'them'}: {up}"
        return ""


def and_(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def are(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"
