"""Templates → files: cookiecutter with quoting filters, and file modes.

Both :mod:`kit.site.render` (sites) and :mod:`kit.site.clients` (team folders)
render through it; of kit's own, it imports only :mod:`kit.core`.

Every value a template writes goes through the filter of the file's own
syntax, so that what kit writes, the program reading it reads back
unchanged, whatever the value — by construction, not because the answers
happened to be tame:

===================== ========================================================
``sh``                a shell word (``shlex.quote``): scripts, ``secrets.env``, ``ci.env``
``toml``              a TOML value written by tomli-w: uv, pdm, poetry files
``ini``               an INI value (pip, setuptools, twine): refused if it could
                      start a second line, key or section
``buildout``          an INI value with ``$`` doubled (buildout substitutes ``${…}``)
``yaml``              a YAML scalar (JSON is YAML): devpi-server settings
``comment``           text in a ``#`` comment: refused if it could end the comment
``systemd``           one word of a unit's command line: quoted, ``%`` and ``$`` doubled
``systemd_path``      a setting's one path taken as written (``WorkingDirectory=``): absolute, ``%`` doubled
``systemd_path_item`` one path of a list (``ReadWritePaths=``): quoted, ``%`` doubled
``cron``              a shell word in a crontab line: refused if it holds ``%``
``nginx``             one nginx parameter, double-quoted: refused if it holds ``$`` or ``{``
``vcl``               a VCL string literal: refused if it holds ``"`` (VCL has no escapes)
===================== ========================================================

The validators (:mod:`kit.site.answers`) refuse such values long before; the
filters are the second wall, and the reason a template cannot forget.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from jinja2.ext import Extension

from kit.core.errors import UnsafeValueError

__all__ = [
    "render_template", "template_dir", "write_private", "fix_modes", "SECRET_FILES", "EXECUTABLE_FILES",
    "QuotingExtension",
]

#: Files holding secrets: mode 0600 wherever they land.
SECRET_FILES = {".pypirc", "ci.env", "netrc", "secrets.env", "devpi-secret", "edge-purge-secret", "kit.toml",
                "edge-read-credentials",
                # The Varnish edge checks purges against the secret written into it.
                "edge.vcl",
                # The TLS keys: the site CA's, which never leaves the site folder, and the server's.
                "ca-key.pem", "server-key.pem"}
#: Files that are run as programs.
EXECUTABLE_FILES = {"init.sh", "create-indexes.sh"}


def _single_line(value: Any, syntax: str) -> str:
    text = str(value)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text) or text != text.strip():
        raise UnsafeValueError(f"refusing to write {text!r} into an {syntax} file: it holds a line break, "
                               "a control character or surrounding white space; correct the answer")
    return text


def ini_value(value: Any) -> str:
    """An INI value that stays one value: no line break (a second key or
    ``[section]``), no leading or trailing space (continuation lines)."""
    return _single_line(value, "INI")


def comment_text(value: Any) -> str:
    """Text inside a ``#`` comment: one line, or it would end the comment."""
    return _single_line(value, "comment of a generated")


def buildout_value(value: Any) -> str:
    """buildout reads ``${section:key}`` as a substitution; ``$$`` is a dollar."""
    return ini_value(value).replace("$", "$$")


def toml_value(value: Any) -> str:
    """One value as TOML, by tomli-w; a list inline (``["web", "data"]``, as the guide greps kit.toml)."""
    import tomli_w

    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):].rstrip("\n")


def sh_word(value: Any) -> str:
    text = str(value)
    if "\x00" in text:  # a shell variable cannot hold NUL: it would be cut there
        raise UnsafeValueError(f"refusing to write {text!r} into a shell file: it holds a NUL character; correct the answer")
    return shlex.quote(text)


def systemd_word(value: Any) -> str:
    """One argument of ``ExecStart=``: double-quoted (C escapes for ``\\`` and
    ``"``), with ``%`` (a specifier) and ``$`` (a variable) doubled."""
    text = _single_line(value, "systemd unit")
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{text}"'


def _absolute_path(value: Any) -> str:
    text = _single_line(value, "systemd unit")
    if not text.startswith("/"):
        raise UnsafeValueError(f"refusing to write {text!r} as a path of a systemd unit: it must be absolute; "
                               "give the site as an absolute path")
    return text


def systemd_path(value: Any) -> str:
    """The one path of a setting systemd takes as written, spaces and all
    (``WorkingDirectory=``: quotes would be part of the path); ``%`` (a
    specifier) doubled; ``$`` means nothing there."""
    return _absolute_path(value).replace("%", "%%")


def systemd_path_item(value: Any) -> str:
    """One path of a space-separated list (``ReadWritePaths=``): double-quoted
    (C escapes for ``\\`` and ``"``), ``%`` doubled; ``$`` means nothing there."""
    text = _absolute_path(value).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{text}"'


def cron_word(value: Any) -> str:
    """A shell word in a crontab command; cron turns ``%`` into a line break, so it is refused."""
    text = _single_line(value, "crontab")
    if "%" in text:
        raise UnsafeValueError(f"refusing to write {text!r} into a crontab: cron reads '%' as a line break; "
                               "move the site to a path without '%'")
    return shlex.quote(text)


def nginx_word(value: Any) -> str:
    """One parameter of an nginx directive, double-quoted (``\\`` and ``"``
    escaped). nginx expands ``$name`` even inside quotes and has no escape for
    it, so a value holding ``$`` (or ``{``) is refused."""
    text = _single_line(value, "nginx")
    if "$" in text or "{" in text:
        raise UnsafeValueError(f"refusing to write {text!r} into an nginx file: nginx reads '$' and '{{' as "
                               "variables; move the site to a path without them")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def vcl_string(value: Any) -> str:
    """A VCL string literal. VCL strings have no escapes at all: a value
    holding ``"`` cannot be written, and is refused."""
    text = _single_line(value, "VCL")
    if '"' in text:
        raise UnsafeValueError(f"refusing to write {text!r} into a VCL file: a VCL string cannot hold '\"'")
    return f'"{text}"'


def yaml_value(value: Any) -> str:
    return json.dumps(value)


class QuotingExtension(Extension):
    """The quoting filters, loaded by cookiecutter from ``_extensions``."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters.update(
            sh=sh_word, toml=toml_value, ini=ini_value, buildout=buildout_value, yaml=yaml_value,
            comment=comment_text, systemd=systemd_word, systemd_path=systemd_path,
            systemd_path_item=systemd_path_item, cron=cron_word, nginx=nginx_word, vcl=vcl_string,
        )


def template_dir(name: str) -> Path:
    """Templates ship inside the wheel as kit/templates; a checkout keeps them at the top."""
    package = Path(__file__).resolve().parents[1]  # kit/
    for candidate in (package / "templates" / name, package.parent / "templates" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kit template {name!r} is missing from this installation")


def render_template(name: str, context: dict[str, Any], dest: Path) -> None:
    """Render ``templates/<name>`` with ``context`` into the new folder ``dest``
    (modes fixed: see :func:`fix_modes`).

    cookiecutter always gets an isolated config file, so it never reads the
    user's ~/.cookiecutterrc nor writes replay files into their home. It
    renders inside a private (0700) temporary folder, so no secret is ever
    readable by others, even before its mode is set.
    """
    from cookiecutter.main import cookiecutter  # heavy: imported only when rendering

    with tempfile.TemporaryDirectory(prefix="kit-render-") as tmp:
        config = Path(tmp, "cookiecutter.yaml")
        config.write_text(
            f"cookiecutters_dir: {json.dumps(str(Path(tmp, 'cookiecutters')))}\n"
            f"replay_dir: {json.dumps(str(Path(tmp, 'replay')))}\n"
        )
        out = cookiecutter(
            str(template_dir(name)),
            no_input=True,
            # "_kit" is a private variable: cookiecutter passes it through unrendered.
            extra_context={"_kit": _jsonable(context)},
            output_dir=str(Path(tmp, "out")),
            config_file=str(config),
            accept_hooks=False,
        )
        fix_modes(Path(out))
        shutil.move(out, dest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def file_mode(name: str) -> int:
    """Secrets 0600, scripts 0755, everything else 0644 (inside a 0700 site)."""
    if name in SECRET_FILES:
        return stat.S_IRUSR | stat.S_IWUSR
    return 0o755 if name in EXECUTABLE_FILES else 0o644


def fix_modes(folder: Path) -> None:
    """Folders 0700, files by :func:`file_mode`: the same on every run, whatever the umask."""
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o700)
        elif path.is_file():
            path.chmod(file_mode(path.name))


def write_private(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` created with its final mode (0600 for a
    secret), never readable by others for an instant, whatever the umask."""
    mode = file_mode(path.name) if mode is None else mode
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), mode)  # the umask may have taken bits away
        handle.write(text)
