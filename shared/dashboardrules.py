"""The dashboard's settings rules, used by :class:`shared.settings.Settings` and ``thetawheel config check``:
which host names it answers to, and when it needs a login token.

The dashboard binds loopback by default and then needs no login. Bound anywhere else (``DASHBOARD_HOST``
``0.0.0.0``, a LAN address …) it asks for ``DASHBOARD_TOKEN`` at login, so the token is required then.
"""

from __future__ import annotations

import ipaddress
import re

#: Shortest ``DASHBOARD_TOKEN`` accepted.
MIN_TOKEN_LENGTH = 16
#: A host name or address in ``DASHBOARD_ALLOWED_HOSTS``: letters, digits, dots, hyphens; ``[…]`` for IPv6.
_HOST_NAME = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")
#: How to make a token, shown in the problems.
_HOW = "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dashboard_token_problem(host: str, token: str) -> str | None:
    """The login rule, one line naming ``DASHBOARD_TOKEN``: a token, when set, has at least
    :data:`MIN_TOKEN_LENGTH` characters, and one is required when ``host`` is not a loopback address."""
    if token and len(token) < MIN_TOKEN_LENGTH:
        return f"DASHBOARD_TOKEN: is {len(token)} characters long, at least {MIN_TOKEN_LENGTH} ({_HOW})"
    if not token and not is_loopback_host(host):
        return (
            f"DASHBOARD_TOKEN: required because DASHBOARD_HOST={host} is not a loopback address (the "
            f"dashboard then asks for this token at login); set at least {MIN_TOKEN_LENGTH} random "
            f"characters, {_HOW}"
        )
    return None


def host_list_problem(value: str) -> str | None:
    """Why ``DASHBOARD_ALLOWED_HOSTS`` (comma-separated names, no scheme or port) is invalid, or ``None``."""
    for name in (part.strip() for part in value.split(",")):
        if name and not _HOST_NAME.match(name):
            return (
                f"{name!r} is not a host name; write names or addresses separated by commas, without "
                "scheme or port, e.g. wheel.lan,192.168.1.5,[fd00::5]"
            )
    return None


def allowed_hosts(host: str, extra: str) -> list[str]:
    """The host names the dashboard answers to: the loopback names, ``host`` (``DASHBOARD_HOST``, bracketed
    when it is an IPv6 address) and the comma-separated ``extra`` (``DASHBOARD_ALLOWED_HOSTS``)."""
    names = ["localhost", "127.0.0.1", "[::1]", f"[{host}]" if ":" in host else host]
    names += [part.strip() for part in extra.split(",") if part.strip()]
    return list(dict.fromkeys(names))
