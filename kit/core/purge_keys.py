"""The purge contract's keys: how a cached page is named in a purge, written
once for devpi's plugin (which names the pages a commit changed) and the
edge (which reads the names back and drops those pages).

A key is one of:

* ``USER/INDEX``: that index's root page, ``/USER/INDEX/+simple/``;
* ``USER/INDEX/PROJECT``: every representation of that project's page,
  PROJECT normalised as PEP 503 says (by :mod:`kit.core.names`);
* ``USER/INDEX/*``: everything cached of that index;
* ``+user/USER``: every read decision the edge keeps for USER's
  credentials (its password changed, a token of it was revoked), so no
  revoked credential is let in from the edge's memory.

In Python a key is ``(index, project)``: ``project`` is ``""`` for the root
page, ``None`` for everything of the index, or the project's name. Varnish's
VCL tags its pages with the same three spellings (``templates/site``'s
``edge.vcl``), by regular expression. Standard library and
:mod:`kit.core.names` only: devpi-server imports this through kit's plugin.
"""

from __future__ import annotations

from kit.core.names import normalize

__all__ = ["WHOLE_INDEX", "KEY_FORMS", "USER_PREFIX", "key", "user_key", "parse_user_key", "parse_key"]

#: The last part of the key that purges everything of an index.
WHOLE_INDEX = "*"
#: The first part of a key naming a user's credentials (no devpi user name starts with "+").
USER_PREFIX = "+user/"
#: The four forms of a key, for messages about a bad one.
KEY_FORMS = f"USER/INDEX, USER/INDEX/PROJECT, USER/INDEX/{WHOLE_INDEX} or {USER_PREFIX}USER"


def user_key(user: str) -> str:
    """The key that drops every read decision kept for ``user``'s credentials."""
    return USER_PREFIX + user


def parse_user_key(text: object) -> str | None:
    """The user a ``+user/USER`` key names, or None when ``text`` is not such a key."""
    if isinstance(text, str) and text.startswith(USER_PREFIX):
        user = text[len(USER_PREFIX):]
        if user and "/" not in user:
            return user
    return None


def key(index: str, project: str | None) -> str:
    """The key of ``index``'s root page (``project`` ""), of one project's
    pages (its name, normalised here), or (None) of everything of the index."""
    if project == "":
        return index
    return f"{index}/{WHOLE_INDEX if project is None else normalize(project)}"


def parse_key(text: object) -> tuple[str, str | None]:
    """``(index, project)`` of a key, as :func:`key` takes them (the project
    normalised); ValueError naming the four forms when ``text`` is none of them
    (a ``+user/USER`` key is read by :func:`parse_user_key`, never as an index)."""
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) not in (2, 3) or not all(parts) or parts[0].startswith("+"):
        raise ValueError(f"bad purge key {text!r}: expected {KEY_FORMS}")
    index = f"{parts[0]}/{parts[1]}"
    if len(parts) == 2:
        return index, ""
    if parts[2] == WHOLE_INDEX:
        return index, None
    return index, normalize(parts[2])
