"""``python -m kit.plugin.launch devpi-server -c master.yml``: devpi's programs
with devpi-web loaded only when the site asks for it.

devpi-web registers itself as a devpi-server plugin through an entry point:
once installed, every devpi-server, devpi-init and devpi-import of that
Python loads it, whatever the site answered. kit runs devpi's programs
through this launcher instead, which builds devpi's plugin manager itself and
blocks devpi-web unless the config file given with ``-c`` says
``kit-web: true`` (kit writes it into master.yml and mirror.yml from the
answer ``web``), or the environment says ``DEVPISERVER_KIT_WEB=1`` (devpi
reads any option from its environment the same way).

When the site asks for the web view and devpi-web is not installed, the
launcher says so in one line and exits with status 2 before devpi starts.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["COMMANDS", "WEB_OPTION", "WEB_PLUGINS", "launch_argv", "main", "missing_web", "wants_web"]

#: devpi's programs the launcher runs: the function behind each console script.
COMMANDS = {
    "devpi-server": "devpi_server.main:main",
    "devpi-init": "devpi_server.init:init",
    "devpi-import": "devpi_server.importexport:import_",
    "devpi-export": "devpi_server.importexport:export",
}
#: The config file's key (and, as DEVPISERVER_KIT_WEB, the environment's) that turns the web view on.
WEB_OPTION = "kit-web"
#: devpi-web's plugins, by their entry point names (group ``devpi_server``).
WEB_PLUGINS = ("devpi-web", "devpi-web-whoosh")
_TRUE = ("1", "true", "yes", "on")
#: How to get devpi-web where kit runs.
INSTALL = "pip install devpi-web"


def launch_argv(command: str) -> list[str]:
    """The command line that runs devpi's ``command`` through the launcher, with kit's own Python."""
    if command not in COMMANDS:
        raise ValueError(f"unknown devpi command {command!r}")
    return [sys.executable, "-m", __name__, command]


def config_file(args: Sequence[str]) -> str | None:
    """The config file devpi's ``-c``/``--configfile`` names in ``args``, if any."""
    for i, arg in enumerate(args):
        if arg in ("-c", "--configfile") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--configfile="):
            return arg.split("=", 1)[1]
        if arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


def _truthy(value) -> bool:
    return str(value).strip().lower() in _TRUE


def wants_web(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether the site asks for devpi-web: the environment's DEVPISERVER_KIT_WEB, else the config file's kit-web."""
    from_env = environ.get("DEVPISERVER_" + WEB_OPTION.upper().replace("-", "_"))
    if from_env is not None:
        return _truthy(from_env)
    path = config_file(args)
    if path is None:
        return False
    try:
        import strictyaml

        document = strictyaml.load(Path(path).read_text(encoding="utf-8")).data
    except Exception:  # devpi reports a missing or broken config file itself, in its own words
        return False
    section = document.get("devpi-server") if isinstance(document, dict) else None
    return isinstance(section, dict) and _truthy(section.get(WEB_OPTION, ""))


def missing_web() -> str | None:
    """The one-line refusal when devpi-web is not installed beside devpi-server, else None."""
    from importlib.util import find_spec

    if find_spec("devpi_web") is not None:
        return None
    # Short: kit up shows the last 200 characters of a failed start's log line.
    return (f"web = yes ({WEB_OPTION}: true) but devpi-web is not installed beside kit; install it: {INSTALL}, "
            "or answer web = no (kit init --set web=no)")


def plugin_manager(web: bool):
    """devpi's plugin manager with every installed plugin but devpi-web's, unless ``web``."""
    from devpi_server.config import get_pluginmanager

    pm = get_pluginmanager(load_entrypoints=False)
    if not web:
        for name in WEB_PLUGINS:
            pm.set_blocked(name)
    pm.load_setuptools_entrypoints("devpi_server")
    pm.check_pending()
    return pm


def run(command: str, args: Sequence[str], web: bool) -> int:
    """Run devpi's ``command`` with ``args`` (no program name) in this process; its exit status."""
    import importlib

    from devpi_server.main import CommandRunner, _main

    pm = plugin_manager(web)
    argv = [command, *args]
    if command == "devpi-server":
        # devpi's own main(), with our plugin manager: CommandRunner turns its Fatal into one line and status 1.
        with CommandRunner(pluginmanager=pm) as runner:
            runner.return_code = _main(runner.pluginmanager, argv=argv)
        return runner.return_code
    module, function = COMMANDS[command].split(":")
    return getattr(importlib.import_module(module), function)(pluginmanager=pm, argv=argv)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    import os

    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m {__name__} {{{','.join(COMMANDS)}}} ARGS...", file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    web = wants_web(args, environ)
    if web:
        problem = missing_web()
        if problem:
            print(f"{command}: {problem}", file=sys.stderr)
            return 2
    return run(command, args, web) or 0


if __name__ == "__main__":
    sys.exit(main())
