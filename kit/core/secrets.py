"""One way to read a shared secret from its file: the purge secret, which
devpi's plugin sends to the edge and the edge checks (both read the site's
``cluster/edge-purge-secret``, which ``kit init`` writes with mode 0600).

The rules, the same for every reader:

* the file is a regular file (a symlink to one is followed);
* no permission bit for "others": a secret every user of the machine can
  read (or replace) is no secret. Group bits are allowed, so that an edge
  running as another user may share the file through a group;
* it holds one token of at least 32 characters of RFC 6750's ``b64token``
  alphabet (letters, digits, ``-._~+/=``), surrounding white space ignored:
  the secret travels in an ``Authorization: Bearer`` header;
* a missing file is an error when the secret is ``required``, else "no
  secret" (None): the reader decides what having none means.

Every broken rule is a :class:`~kit.core.errors.SecretError` whose message is
one line naming the file and the fix.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from kit.core.errors import SecretError

__all__ = ["read_secret", "SECRET_TOKEN"]

#: What a secret may hold: one RFC 6750 b64token, at least 32 characters (kit writes 64 hex).
SECRET_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{32,}")


def read_secret(path: Path, *, required: bool, fix: str | None = None) -> str | None:
    """The secret in ``path``, stripped; None only when the file does not exist
    and ``required`` is false. :class:`SecretError` for any broken rule (see
    the module's docstring); ``fix`` replaces the generic "how to write it"
    advice in its messages."""
    path = Path(path)
    fix = fix or f"write the secret (64 hex characters) into {path} and chmod 600 it"
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise SecretError(f"secret file {path} is not a file; {fix}")
        if mode & stat.S_IRWXO:
            how = ("can be read by every user of this machine" if mode & stat.S_IROTH
                   else f"is open to every user of this machine (mode {stat.S_IMODE(mode):04o})")
            raise SecretError(f"secret file {path} {how}; run: chmod 600 {path}")
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        if not required:
            return None
        raise SecretError(f"secret file {path} does not exist; {fix}") from None
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} holds something else than a secret; {fix}") from None
    except OSError as exc:
        raise SecretError(f"cannot read the secret file {path} ({exc.strerror}); {fix}") from None
    secret = text.strip()
    if not secret:
        raise SecretError(f"secret file {path} is empty; {fix}")
    if not SECRET_TOKEN.fullmatch(secret):
        raise SecretError(f"secret file {path} does not hold one token of at least 32 letters or digits; {fix}")
    return secret
