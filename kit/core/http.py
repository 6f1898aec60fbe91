"""Kit's own HTTP calls: to the cluster's services, to devpi, to the URLs a
team's files name. One client, so every call gets the same two rules:

* ``trust_env=False``: a developer's ``http_proxy``/``HTTP_PROXY``/``ALL_PROXY``
  (or a ``NO_PROXY`` that misses 127.0.0.1) must not send kit's loopback
  calls to a proxy, which would make a healthy cluster look dead;
* short, explicit timeouts, so a service that accepts connections but never
  answers (stopped, overloaded) costs seconds, never a hang.

Calls never raise for a failed connection: they return an :class:`Answer`
whose :attr:`Answer.failure` says how it failed, for messages that name the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kit.core.errors import one_line

__all__ = ["Answer", "request", "get", "CONNECT_TIMEOUT", "READ_TIMEOUT", "REFUSED", "HUNG", "BROKEN"]

#: A loopback connection is made in microseconds: a second means nobody listens.
CONNECT_TIMEOUT = 1.0
#: How long a service may take to answer a small request before it counts as hung.
READ_TIMEOUT = 2.0

REFUSED = "refused"  # nobody listens there
HUNG = "hung"  # it accepts connections but does not answer in time
BROKEN = "broken"  # anything else: a reset, a bad URL, not HTTP


@dataclass(frozen=True)
class Answer:
    """What a server answered; ``status`` 0 when it did not answer (see :attr:`failure`)."""

    status: int
    body: bytes = b""
    #: "" when the server answered, else :data:`REFUSED`, :data:`HUNG` or :data:`BROKEN`.
    failure: str = ""
    #: The failure in words, for messages.
    reason: str = ""
    timeout: float = READ_TIMEOUT
    #: The answer's headers, names in lower case.
    headers: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def describe(self) -> str:
        """``HTTP 404``, or how it failed: ``no answer within 2 s``, ``connection refused``."""
        if self.status:
            return f"HTTP {self.status}"
        if self.failure == HUNG:
            return f"no answer within {self.timeout:g} s"
        if self.failure == REFUSED:
            return "connection refused"
        return self.reason or "no answer"


def request(
    method: str, url: str, *, json_body: Any = None, data: dict | bytes | None = None,
    headers: dict[str, str] | None = None, timeout: float = READ_TIMEOUT, tls_name: str = "",
) -> Answer:
    """One HTTP request with kit's rules (no proxies from the environment, short timeouts).

    ``tls_name``: the name the server's certificate must carry, when the URL names its
    address instead (a host of a site spread over hosts, whose certificate names the site)."""
    import httpx  # 70 ms: imported by the commands that talk to a server, not by kit init

    limits = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
    try:
        response = _client().request(
            method, url, json=json_body, data=data if isinstance(data, dict) else None,
            content=data if isinstance(data, bytes) else None, headers=headers, timeout=limits,
            extensions={"sni_hostname": tls_name} if tls_name else None,
        )
        return Answer(response.status_code, response.content, timeout=timeout,
                      headers={name.lower(): value for name, value in response.headers.items()})
    except httpx.ConnectTimeout:
        # A full accept backlog (a stopped process) looks like this on loopback.
        return Answer(0, failure=HUNG, reason=f"no connection within {CONNECT_TIMEOUT:g} s", timeout=timeout)
    except httpx.TimeoutException:
        return Answer(0, failure=HUNG, reason=f"no answer within {timeout:g} s", timeout=timeout)
    except httpx.ConnectError as exc:
        refused = "refused" in str(exc).lower() or "errno 111" in str(exc).lower()
        return Answer(0, failure=REFUSED if refused else BROKEN, reason=one_line(exc), timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return Answer(0, failure=BROKEN, reason=one_line(exc), timeout=timeout)


_CLIENT = None
#: CA files kit's own calls trust besides the system's (an https site's CA: see :func:`trust`).
_TRUSTED: list[str] = []


def trust(ca_file: str) -> None:
    """Trust ``ca_file`` (PEM) too in every later call of this process: ``kit check`` reaches
    an https site as its teams do, with the CA their folder holds."""
    global _CLIENT
    if ca_file not in _TRUSTED:
        _TRUSTED.append(ca_file)
        _CLIENT = None


def _verify():
    """The system's CAs, and the ones :func:`trust` was given."""
    import ssl

    context = ssl.create_default_context()
    for ca_file in _TRUSTED:
        context.load_verify_locations(cafile=ca_file)
    return context


def _client():
    """One client for the process: making one costs 16 ms (its TLS context),
    and kit up makes dozens of calls. No kept-alive connections, so a server
    that was killed in between is "refused", never a stale connection."""
    global _CLIENT
    if _CLIENT is None:
        import httpx

        _CLIENT = httpx.Client(trust_env=False, follow_redirects=False, verify=_verify() if _TRUSTED else True,
                               limits=httpx.Limits(max_keepalive_connections=0))
    return _CLIENT


def get(url: str, *, headers: dict[str, str] | None = None, timeout: float = READ_TIMEOUT,
        tls_name: str = "") -> Answer:
    return request("GET", url, headers=headers, timeout=timeout, tls_name=tls_name)

