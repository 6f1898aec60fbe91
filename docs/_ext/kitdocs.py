"""Reference pages generated from kit itself, so they cannot drift:

- ``.. kit-cli::`` every command of the typer app, with its options;
- ``.. kit-answers::`` every answer key of kit.toml, from the questions;
- ``.. kit-files::`` every file ``kit init`` writes, and ``.. kit-client-files:: URL``
  each client file's text, as ``kit clients`` writes it.
"""

from __future__ import annotations

from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines + [""]


def _cell(text: str) -> str:
    return " ".join(text.split()) or "—"


class _GeneratedDirective(SphinxDirective):
    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self):
        from docutils import nodes

        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(self.lines(), source="kitdocs"), container)
        return container.children


class KitCli(_GeneratedDirective):
    def lines(self) -> list[str]:
        import typer.main

        from kit.cli.app import app

        group = typer.main.get_command(app)
        ctx = group.make_context("kit", [], resilient_parsing=True)
        out: list[str] = []
        for name in group.list_commands(ctx):
            out += _command_lines(group.get_command(ctx, name), ctx, f"kit {name}", name)
        return out


def _command_lines(command, parent, path: str, name: str) -> list[str]:
    """A command's section; a group's (``kit mirror``) is followed by one per subcommand (``kit mirror sync``)."""
    sub = command.make_context(name, [], parent=parent, resilient_parsing=True)
    out = [f"``{path}``", "-" * (len(path) + 4), ""]
    out += [line for line in (command.help or "").strip().splitlines()] + [""]
    out += [".. code-block:: text", "", "   " + command.get_usage(sub).replace("Usage: ", ""), ""]
    rows = []
    for param in command.params:
        if param.name == "help":
            continue
        names = ", ".join(f"``{opt}``" for opt in param.opts) if param.param_type_name == "option" else f"``{(param.metavar or param.name).upper()}``"
        value = param.default
        value = ", ".join(value) if isinstance(value, (list, tuple)) else value
        default = "" if value in (None, False, "") or param.required else f"``{value}``"
        rows.append([names, _cell(getattr(param, "help", "") or ""), default or "—"])
    if rows:
        out += _table(["argument or option", "meaning", "default"], rows)
    for child in getattr(command, "list_commands", lambda ctx: [])(sub):
        out += _command_lines(command.get_command(sub, child), sub, f"{path} {child}", child)
    return out


class KitAnswers(_GeneratedDirective):
    def lines(self) -> list[str]:
        from kit.site.answers import QUESTIONS

        rows = []
        for question in QUESTIONS:
            if question.kind == "password":
                default = "a random 24-character password"
            else:
                value = question.default({"upstream": "pypi", "setups": ("cluster",)})
                default = ", ".join(value) if isinstance(value, tuple) else str(value)
            rows.append([f"``{question.key}``", (f"``{default}``" if default else "(none)") if question.kind != "password" else default,
                         _cell(question.help), _cell(question.prompt)])
        return _table(["key", "default", "meaning", "wizard question"], rows)


#: What each generated file is for; the build fails when kit writes a file not described here.
FILE_PURPOSES = {
    "README.md": "what the site holds and where to start",
    "kit.toml": "the answers the site was generated from; replay with ``kit init --answers`` (0600: admin password)",
    ".kit-manifest.json": "hashes of the generated files, so a re-run spots hand edits",
    "server/README.md": "how to run the production index server",
    "server/devpi-server.yml": "devpi-server settings of the production master (devpi's default key derivation)",
    "server/devpi-secret": "the production server secret: 256 random bits, kept on re-renders (0600)",
    "server/secrets.env": "admin and team upload passwords for the scripts (0600)",
    "server/init.sh": "creates the data folder with the admin password, passed in devpi-init's environment",
    "server/indexes.json": "the indexes and team users ``create-indexes.sh`` makes (no passwords: their variables' names)",
    "server/create-indexes.sh": "creates the mirror, ``root/names``, team users and team indexes on the running server (``python3 -m kit.cluster.devpi``)",
    "cluster/README.md": "the local cluster: services, ports, commands, and the start-up trade-off",
    "cluster/master.yml": "devpi-server settings of the cluster's master (primary role, cheap key derivation)",
    "cluster/mirror.yml": "devpi-server settings of the cluster's mirror (replica of the master)",
    "cluster/edge.json": "the edge's listen address, origins, cache folder and limits, page TTL, purge secret file",
    "cluster/edge.vcl": "with ``edge = \"varnish\"``: Varnish's rules (pages per representation, xkey purges, grace on error, master → mirror → shield); holds the purge secret (0600)",
    "cluster/devpi-secret": "the secret master and mirror share: the same 256 random bits (0600)",
    "cluster/edge-purge-secret": "the secret the devpi plugin shows the edge to purge pages: 256 random bits, kept (0600)",
    "cluster/edge-read-credentials": "unless reads are anonymous: the user ``kit-edge`` and its password, as which the edge fetches private pages and files it has authorised (0600)",
    "cluster/systemd/kit-master.service": "systemd: the master as ``kit up`` runs it, as the user ``kit``, sandboxed, restarted on failure",
    "cluster/systemd/kit-mirror.service": "systemd: the mirror, after the master (it keeps serving reads without it)",
    "cluster/systemd/kit-edge.service": "systemd: the edge clients use (kit's edge, or varnishd with ``edge = \"varnish\"``)",
    "cluster/systemd/kit-shield.service": "systemd: kit's edge behind Varnish (``edge = \"varnish\"`` only)",
    "cluster/systemd/kit-upstream.service": "systemd: the upstream folder served as a simple index (folder upstream only)",
    "cluster/systemd/kit.target": "systemd: every unit above, started and stopped together (``systemctl enable --now kit.target``)",
    "cluster/systemd/kit-varnish-exporter.service": "systemd: Varnish's metrics for Prometheus (``edge = \"varnish\"`` and Debian's ``prometheus-varnish-exporter`` installed)",
    "monitoring/prometheus.yml": "Prometheus: the site's scrape targets (every edge's ``/+edge/metrics``; Varnish's exporter) and ``alerts.yml``; paths relative to its folder (:doc:`../howto/monitor-a-site`)",
    "monitoring/alerts.yml": "Prometheus: alert rules (an edge or origin down, mirror lag, integrity failures, stale static copy or public mirror, disk nearly full, certificate expiring)",
    "monitoring/grafana-dashboard.json": "Grafana: a dashboard of the site's metrics, its Prometheus chosen on import (``${DS_PROMETHEUS}``)",
    "mirror/README.md": "the public mirror: what it holds, the ``kit mirror`` commands, where it is served",
    "mirror/bandersnatch.conf": "bandersnatch's settings: upstream, storage, formats, the listed projects (``kit mirror sync`` adds their dependencies)",
    "mirror/kit-mirror-sync.service": "systemd: one ``kit mirror sync`` of this site (oneshot, niced; as the user ``kit``, writing only the mirror's folders)",
    "mirror/kit-mirror-sync.timer": "systemd: starts the sync hourly, at a random minute, and after a missed run",
    "mirror/crontab": "the same hourly sync as a cron line (``--quiet``: errors only)",
    "mirror/nginx-locations.conf": "nginx: serves the public mirror at ``/mirror/simple/`` in production (JSON or HTML by ``Accept``, files, hidden names refused); include it in a server block",
    "teams/TEAM/README.md": "what each client file is and how to use it",
    "teams/TEAM/pip.conf": "pip: one ``index-url``; empty ``extra-index-url`` and ``find-links``; ``trusted-host`` only for plain http beyond loopback",
    "teams/TEAM/uv.toml": "uv: one default ``[[index]]``, ``first-index`` strategy; ``publish-url`` on the index "
                          "(``uv publish --index TEAM``) and at the top (a plain ``uv publish`` never goes to PyPI)",
    "teams/TEAM/buildout.cfg": "zc.buildout: ``index``, ``allow-hosts = host:port``, ``use-dependency-links = false``; for ``extends``",
    "teams/TEAM/setup.cfg": "setuptools: ``[easy_install] index_url`` for legacy ``setup_requires``",
    "teams/TEAM/poetry-source.toml": "poetry: one ``primary`` source, which turns PyPI off for the project; in its "
                                     "comments, the ``poetry config`` commands that make ``poetry publish -r TEAM`` "
                                     "upload to the team index",
    "teams/TEAM/pdm.toml": "pdm: replaces the source named ``pypi``; no update check; ``[repository.TEAM]`` with "
                           "the upload URL and user name, no password (``pdm publish -r TEAM``)",
    "teams/TEAM/.pypirc": "twine: the team's upload repository and credentials; zc.buildout 6 reads the same "
                          "sections from ``~/.pypirc`` for the team index and the mirror (0600)",
    "teams/TEAM/ci.env": "CI: the team index for pip, uv and pdm (``PIP_*``, ``UV_*``, ``PDM_*``), and the upload URL "
                         "and credentials of twine (``TWINE_*``), uv (``UV_PUBLISH_*``), poetry "
                         "(``POETRY_REPOSITORIES_TEAM_URL``, ``POETRY_HTTP_BASIC_TEAM_*``) and pdm (``PDM_PUBLISH_*``); "
                         "when reading takes credentials, every password is ``${KIT_TOKEN}``, the CI secret "
                         "variable the shell fills in as the job loads the file (0600)",
    "teams/TEAM/netrc": "the team's read credentials (``machine HOST login TEAM password …``) for pip, uv, poetry, "
                        "pdm and setuptools: ``NETRC=/path/to/netrc``; only when reading takes credentials "
                        "(``read_access`` team or site) (0600)",
}


class KitFiles(_GeneratedDirective):
    def lines(self) -> list[str]:
        import re
        import tempfile
        from pathlib import Path

        from kit.site.answers import SETUPS, answers_from_raw
        from kit.site.render import render_site

        with tempfile.TemporaryDirectory() as tmp:
            answers = answers_from_raw({"upstream": tmp, "teams": ["team"], "setups": list(SETUPS)})
            site = Path(tmp, "site")
            render_site(answers, site)
            names = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
        rows = []
        for name in names:
            key = re.sub(r"^teams/[^/]+/", "teams/TEAM/", name)
            if key not in FILE_PURPOSES:
                raise self.error(f"kit generates {name}, which the reference does not describe")
            rows.append([f"``{key}``", FILE_PURPOSES[key]])
        return _table(["file", "what it is for"], rows)


#: How each client file is highlighted.
_CLIENT_LEXERS = {".toml": "toml", ".env": "bash", ".md": "md"}


class KitClientFiles(_GeneratedDirective):
    """Each client file of a team, as ``kit clients`` writes it for the team index given."""

    required_arguments = 1

    def lines(self) -> list[str]:
        from pathlib import Path

        from kit.site.clients import index_context, render_clients

        files = render_clients(index_context(self.arguments[0]), readme=False)
        out: list[str] = []
        for name, text in files.items():
            lexer = _CLIENT_LEXERS.get(Path(name).suffix, "ini")
            out += [f"``{name}``", "~" * (len(name) + 4), "", f".. code-block:: {lexer}", ""]
            out += [f"   {line}".rstrip() for line in text.splitlines()] + [""]
        return out


def _console_lexer():
    """A console lexer where only ``$ `` starts a command.

    Pygments' own treats a line starting with ``#`` as a root prompt, so the
    comment lines of a ``cat pip.conf`` were shown as commands.
    """
    import re

    from pygments.lexers.shell import BashSessionLexer

    class KitConsoleLexer(BashSessionLexer):
        name = "kit console"
        aliases = ["kit-console"]
        _ps1rgx = re.compile(r"^(\$ )(.*\n?)")

    return KitConsoleLexer


def setup(app):
    app.add_lexer("console", _console_lexer())
    app.add_directive("kit-cli", KitCli)
    app.add_directive("kit-answers", KitAnswers)
    app.add_directive("kit-files", KitFiles)
    app.add_directive("kit-client-files", KitClientFiles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
