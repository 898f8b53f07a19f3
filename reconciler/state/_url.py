"""Reading a ``postgresql://`` state URL strictly, before anything connects or resolves a name.

libpq and ``urllib`` disagree about a URL whose password holds a raw ``@``, ``:``, ``/``, ``?`` or
``#``: the password's tail then becomes a host name and goes to a DNS lookup, i.e. a secret leaves
the machine. ``check_pg_url`` refuses such a URL (and one without a host, a malformed IPv6 host
or a port out of range) with a message that never shows the password; it imports nothing heavy
and opens no socket.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from reconciler.state.errors import StateError

_ENCODE = ("percent-encode these characters in the password ('@' as %40, ':' as %3A, '/' as %2F, "
           "'?' as %3F, '#' as %23), or leave the password out of the URL and use PGPASSWORD or ~/.pgpass")
_HOST = re.compile(r"^[A-Za-z0-9._~%-]+$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+(%[A-Za-z0-9._~-]+)?$")


@dataclass(frozen=True)
class PgUrl:
    """A checked URL: ``redacted`` is safe to show; ``secrets`` must never be shown."""

    url: str
    redacted: str
    secrets: tuple[str, ...] = field(repr=False)


def _unsafe(url: str) -> str:
    """The URL with everything up to its last ``@`` and every query parameter hidden."""
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        return f"{scheme}://***@{re.split(r'[?#]', rest.rpartition('@')[2], maxsplit=1)[0]}"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    # No '@': a password typed without its host ("user:secret/db") must not be shown either.
    shown = all(not _bad_host(h) and not any(ord(c) < 0x21 for c in h) for h in authority.split(","))
    return f"{scheme}://{authority if shown else '***'}"


def check_pg_url(url: str) -> PgUrl:
    """Check ``url`` (``postgresql://[user[:password]@]host[:port][,...]/db[?...]``); raises ``StateError``."""
    scheme, _, rest = url.partition("://")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise StateError(f"the PostgreSQL state URL {_unsafe(url)!r} contains a control character "
                         "(a line break?); write it on one line")

    def refuse(why: str, hint: str = _ENCODE) -> StateError:
        return StateError(f"the PostgreSQL state URL {_unsafe(url)} cannot be read unambiguously: {why}; {hint} "
                          "(the URL is shown without its password)")

    end = re.search(r"[/?#]", rest)
    authority, tail = (rest[:end.start()], rest[end.start():]) if end else (rest, "")
    userinfo, at, hosts = authority.rpartition("@")
    if "@" in userinfo:
        raise refuse("its user:password part holds a raw '@'")
    if "@" in tail:
        raise refuse("an '@' follows the host part (a raw '/', '?' or '#' in the password, or an '@' in the "
                     "database name)")
    if userinfo.count(":") > 1:
        raise refuse("its user:password part holds more than one ':'")
    query = dict(parse_qsl(tail.partition("?")[2].partition("#")[0], keep_blank_values=True))
    if not hosts and not query.get("host") and not query.get("hostaddr"):
        raise StateError(f"the PostgreSQL state URL {_unsafe(url)} names no host; write "
                         "postgresql://USER@HOST[:PORT]/DATABASE (fwctl does not fall back to libpq's defaults)")
    for host in hosts.split(",") if hosts else ():
        why = _bad_host(host)
        if why:
            raise StateError(f"the PostgreSQL state URL {_unsafe(url)} has {why}")
    user, _, password = userinfo.partition(":")
    secrets = {password, unquote(password), query.get("password", "")}
    raw_query_password = re.search(r"(?:^|[?&])password=([^&#]*)", tail)
    if raw_query_password:
        secrets.add(raw_query_password.group(1))
    if os.environ.get("PGPASSWORD"):
        secrets.add(os.environ["PGPASSWORD"])
    path = tail.partition("?")[0].partition("#")[0]
    redacted = f"{scheme}://{unquote(user) + '@' if user else ''}{hosts}{path}"
    return PgUrl(url, redacted, tuple(sorted((s for s in secrets if s), key=len, reverse=True)))


def _bad_host(spec: str) -> str:
    """Why ``host[:port]`` (or ``[v6][:port]``) is malformed, or ''."""
    if spec.startswith("["):
        inside, close, after = spec[1:].partition("]")
        if not close:
            return "a malformed IPv6 host (a '[' without its ']')"
        if not _IPV6.match(inside) or ":" not in inside:
            return "a malformed IPv6 host between '[' and ']'"
        if after and not after.startswith(":"):
            return "a malformed host after ']'"
        port = after[1:] if after else ""
    else:
        if "[" in spec or "]" in spec:
            return "a malformed IPv6 host (write it as [ADDRESS])"
        if spec.count(":") > 1:
            return "a malformed host (an IPv6 address must be written as [ADDRESS])"
        host, _, port = spec.partition(":")
        if host and not _HOST.match(host):
            return "a host name with characters a host name cannot hold"
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        return "a port that is not a number between 1 and 65535"
    return ""


__all__ = ["PgUrl", "check_pg_url"]
