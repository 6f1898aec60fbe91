"""The Varnish edge: how kit runs ``varnishd`` with the site's ``cluster/edge.vcl``.

The VCL (rendered from ``templates/site/…/cluster/edge.vcl``) gives Varnish the
rules of kit's own edge: index pages cached per representation and purged by
devpi's purge plugin (through varnish-modules' xkey), stale pages when every
origin fails, a chain master → mirror → shield. The shield is kit's own edge
(:mod:`kit.edge.app`) on 127.0.0.1 behind Varnish: it checks package files
against their sha256, and serves the static copy and the public mirror,
which Varnish, holding no files of its own, cannot.

varnishd and varnish-modules are system packages (Debian: ``apt-get install
varnish varnish-modules``); nothing here is needed with the default edge.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from kit.core.errors import ClusterError
from kit.core.processes import stop_groups, system_program, wait_answering
from kit.site.plan import MODULES, STORAGE, VCL_FILE, varnishd_argv, work_dir

__all__ = ["INSTALL_HINT", "HITCH_HINT", "EXPORTER_HINT", "exporter_off", "check_hitch", "varnishd_path", "require_varnishd", "varnishd_argv", "work_dir", "check_vcl",
           "VCL_FILE", "counters", "TemporaryVarnish"]

#: How to get Varnish, for every message that finds it missing.
INSTALL_HINT = "apt-get install varnish varnish-modules"


def varnishd_path() -> str | None:
    """The varnishd program, or None when Varnish is not installed."""
    return system_program("varnishd")


def require_varnishd() -> str:
    """varnishd, or :class:`ClusterError` saying how to install it (or go back to kit's edge)."""
    found = varnishd_path()
    if found is None:
        raise ClusterError(f"the site's edge is varnish, but varnishd is not installed; install it with: "
                           f"{INSTALL_HINT} (or use kit's own edge: kit init --set edge=python)")
    return found


def counters(site_dir: Path) -> dict[str, int]:
    """The running Varnish's counters, named as kit's edge names its own
    (hits, misses, stale, passes); empty when varnishstat cannot tell."""
    varnishstat = system_program("varnishstat")
    if varnishstat is None:
        return {}
    names = ("MAIN.cache_hit", "MAIN.cache_hit_grace", "MAIN.cache_miss", "MAIN.s_pass")
    argv = [varnishstat, "-n", str(work_dir(site_dir)), "-1", "-j", *(f"-f{name}" for name in names)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        found = json.loads(result.stdout).get("counters", {}) if result.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}
    value = {name: int(found.get(name, {}).get("value", 0)) for name in names}
    return {
        "hits": value["MAIN.cache_hit"] - value["MAIN.cache_hit_grace"],
        "misses": value["MAIN.cache_miss"],
        "stale": value["MAIN.cache_hit_grace"],
        "passes": value["MAIN.s_pass"],
    }


def check_vcl(vcl: Path, fix: str = "kit init --no-input") -> None:
    """Compile ``vcl`` as varnishd would load it (``varnishd -C``); :class:`ClusterError`
    naming what is missing (varnishd, varnish-modules) or varnishd's own message, and
    ``fix``, the command that writes the VCL again."""
    varnishd = require_varnishd()
    # -j none: as root, varnishd would read the file as its own unprivileged user.
    result = subprocess.run([varnishd, "-C", "-j", "none", "-f", str(Path(vcl).absolute())],
                            capture_output=True, text=True)
    if result.returncode == 0:
        return
    noise = ("Could not delete", "Message from VCC-compiler", "Running VCC-compiler failed", "VCL compilation failed",
             "(-? gives usage)", "---", "#")
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip() and not line.strip().startswith(noise)]
    missing = next((line.split("VMOD", 1)[1].strip() for line in lines if "Could not find VMOD" in line), None)
    if missing in MODULES:
        raise ClusterError(f"the Varnish edge needs varnish-modules (its VCL imports {missing}), which is not "
                           f"installed; install it with: {INSTALL_HINT}")
    raise ClusterError(f"varnishd cannot load {vcl}: {' '.join(lines[:2])}; "
                       f"write it again with: {fix}")


#: Debian's package of Varnish's metrics exporter, optional: kit up runs it when it is installed.
EXPORTER_HINT = "apt-get install prometheus-varnish-exporter"


def exporter_off(answers) -> str:
    """One line saying that the site's Varnish is not seen by Prometheus, and how to change that;
    "" when nothing is missing (kit's own edge, a site spread over hosts, the exporter installed)."""
    from kit.site.plan import VARNISH_EXPORTER_PROGRAM

    if answers.edge != "varnish" or answers.is_multi_host or system_program(VARNISH_EXPORTER_PROGRAM):
        return ""
    return (f"Varnish's metrics are off: {VARNISH_EXPORTER_PROGRAM} is not installed; install it with: "
            f"{EXPORTER_HINT}, then kit up again")


#: Debian's package of hitch, the TLS proxy in front of an https site's Varnish.
HITCH_HINT = "apt-get install hitch"


def check_hitch(conf: Path, fix: str = "kit init --no-input") -> None:
    """Check ``conf`` with hitch's own parser (``hitch --test``), certificate and key loaded;
    :class:`ClusterError` naming what is missing (hitch) or hitch's own message, and ``fix``."""
    from kit.core.processes import system_program

    hitch = system_program("hitch")
    if hitch is None:
        raise ClusterError(f"an https site with the Varnish edge needs hitch (TLS in front of Varnish), which is not "
                           f"installed; install it with: {HITCH_HINT}")
    import re
    import tempfile

    try:
        text = Path(conf).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClusterError(f"cannot read {conf} ({getattr(exc, 'strerror', None) or exc}); write it again with: {fix}") \
            from None
    # hitch --test stats a socket backend, which Varnish makes only as it starts: checked
    # before it, the copy names a port instead (hitch does not connect to test).
    text = re.sub(r'(?m)^backend = "/.*"$', 'backend = "[127.0.0.1]:9"', text)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", prefix="kit-hitch-") as copy:
        copy.write(text)
        copy.flush()
        result = subprocess.run([hitch, "--test", "--config", copy.name], capture_output=True, text=True)
    if result.returncode == 0:
        return
    noise = ("{ocsp}", "Trying to initialize")
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines()
             if line.strip() and not line.strip().startswith(noise)]
    raise ClusterError(f"hitch cannot use {conf}: {' '.join(lines[:2]) or f'exit code {result.returncode}'}; "
                       f"write it again with: {fix}")


class TemporaryVarnish:
    """Varnish with the site's rules on a free port of 127.0.0.1, in front of the
    running master and mirror, the site's own edge (kit's) as its shield: how
    ``kit bench`` measures Varnish on a site whose edge is kit's. Nothing purges
    it (devpi purges the site's edge), and it lives in ``folder`` until :meth:`stop`."""

    def __init__(self, site, folder: Path):
        self.site = site
        self.folder = Path(folder)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> str:
        """Render the VCL, start varnishd and return its URL once it answers; :class:`ClusterError` if not."""
        import dataclasses
        import secrets

        from kit.core.processes import free_ports
        from kit.site.render import site_context
        from kit.site.folder import SITE_SECRETS
        from kit.site.templating import render_template

        varnishd = require_varnishd()
        port = free_ports(1)[0]
        site = self.site.answers
        # The site as if its edge were Varnish on `port`, with kit's edge (on its own port) as the shield.
        answers = dataclasses.replace(site, edge="varnish", host="127.0.0.1", edge_port=port,
                                      shield_port=site.edge_port)
        context = site_context(answers, {name: secrets.token_hex(32) for name in SITE_SECRETS}, self.folder)
        rendered = self.folder / "rendered"
        render_template("site", context, rendered)
        vcl = rendered / "cluster" / VCL_FILE
        check_vcl(vcl)
        (self.folder / "varnish").mkdir(mode=0o700, exist_ok=True)
        argv = [varnishd, "-F", "-j", "none", "-n", str(self.folder / "varnish"), "-a", f"127.0.0.1:{port}",
                "-T", "127.0.0.1:0", "-f", str(vcl.absolute()), "-s", STORAGE]
        log = self.folder / "varnishd.log"
        with open(log, "wb") as output:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"

        def exited(code: int) -> ClusterError:
            self.proc = None
            last = log.read_text(errors="replace").strip().splitlines()[-1:]
            return ClusterError(f"a temporary varnishd exited with code {code}: {last[0] if last else 'no output'}")

        def silent() -> ClusterError:
            self.stop()
            return ClusterError(f"a temporary varnishd did not answer {self.url}/+edge/health within {timeout:g} s")

        wait_answering(self.proc, f"{self.url}/+edge/health", timeout, exited=exited, silent=silent)
        return self.url

    def stop(self) -> None:
        """Stop varnishd (manager and child, one process group), as kit down stops a service."""
        if self.proc is None:
            return
        stop_groups([self.proc.pid])
        self.proc.wait()
        self.proc = None
