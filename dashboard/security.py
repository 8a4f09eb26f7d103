"""What the dashboard refuses before any view runs: foreign host names, large or malformed bodies, and ids
that are not plain numbers.

- **Trusted hosts**: a request whose ``Host`` header is not one of
  :attr:`shared.settings.Settings.allowed_hosts` is a 400 before anything else runs, so a web page on
  another site cannot reach the dashboard through DNS rebinding (``Host: attacker.example``). This is
  Flask's ``TRUSTED_HOSTS`` done by hand: werkzeug 3.1 compares only the part of a trusted name before its
  first ``:``, so it can never accept an IPv6 literal such as ``[::1]``.
- **Body size** (``MAX_CONTENT_LENGTH``, :data:`MAX_BODY_BYTES`): a larger body is a 413, with the API's
  JSON error on ``/api/``.
- **JSON bodies** on the API: a non-empty body must be ``application/json`` (else 415), parse (400), be an
  object (400) and nest at most :data:`MAX_JSON_DEPTH` levels (400) — checked here, before spectree and
  the views see it, so ``[[[[…`` deep enough to exhaust Python's recursion is a 400, not a 500.
- **Ids in URLs** (:class:`IdConverter`, installed as the ``int`` converter): ASCII digits only and at most
  2**63 - 1, SQLite's largest integer; anything else does not match the route (404).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge, SecurityError
from werkzeug.routing import IntegerConverter, Map

from dashboard.apimodels import MAX_SQL_INT
from dashboard.errors import ActionError
from shared.settings import Settings

#: Largest request body accepted (bytes).
MAX_BODY_BYTES = 64 * 1024
#: Deepest nesting of arrays and objects accepted in a JSON body (the API's bodies are flat).
MAX_JSON_DEPTH = 16


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: 1-19 ASCII digits, 0 to 2**63 - 1. Werkzeug's own matches any Unicode
    digit (``\\d``) and any size, which SQLite cannot store."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_SQL_INT)
        super().__init__(map, *args, **kwargs)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0, ``{}`` is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def host_name(host: str) -> str:
    """The name part of a ``Host`` value, lower case: ``[::1]:7001`` → ``[::1]``, ``Wheel.lan:80`` →
    ``wheel.lan``."""
    if host.startswith("["):
        return host[: host.find("]") + 1].lower()
    return host.partition(":")[0].lower()


def check_host() -> None:
    """``before_request``: refuse a ``Host`` that is not trusted (werkzeug's :class:`SecurityError`, 400)."""
    trusted = current_app.config["THETAWHEEL_HOSTS"]
    if host_name(request.host) not in trusted:
        raise SecurityError(f"Host {request.host[:80]!r} is not trusted")


def check_json_body() -> None:
    """Refuse an API request body that is not a JSON object of modest depth (:class:`ActionError`)."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE") or not request.path.startswith("/api/"):
        return
    if request.routing_exception is not None:  # a foreign host or no such route: refused as such
        return
    data = request.get_data(cache=True)
    if not data.strip():
        return
    if not request.is_json:
        raise ActionError(
            415, f"send the body as JSON (Content-Type: application/json), not {request.mimetype!r}", None
        )
    try:
        body = json.loads(data)
    except RecursionError:
        raise ActionError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels", None) from None
    except ValueError:
        raise ActionError(400, "the body must be a JSON object; it is not valid JSON", None) from None
    if not isinstance(body, dict):
        raise ActionError(400, f"the body must be a JSON object, not a JSON {type(body).__name__}", None)
    for key, value in body.items():
        if json_depth(value) + 1 > MAX_JSON_DEPTH:
            raise ActionError(400, f"{key}: nests deeper than {MAX_JSON_DEPTH} levels", str(key))


def install(app: Flask, settings: Settings) -> None:
    """Trusted hosts, the body limit, the id converter and the error pages of these checks on ``app``;
    call it before any other ``before_request`` and before the blueprints are registered (their routes
    use :class:`IdConverter`). :func:`check_json_body` is registered by the caller, after CSRF."""
    app.config.update(
        THETAWHEEL_HOSTS=frozenset(name.lower() for name in settings.allowed_hosts),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SECURE=settings.DASHBOARD_SECURE_COOKIE,
    )
    app.url_map.converters["int"] = IdConverter
    app.before_request(check_host)  # the first check of every request

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Any:
        reason = f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB"
        if request.path.startswith("/api/"):
            return jsonify({"error": reason, "field": None}), 413
        return render_template("error.html", page=None, code=413, title="Too large", reason=reason), 413

    @app.errorhandler(SecurityError)
    def _foreign_host(err: SecurityError) -> Any:
        # No URL can be built for an untrusted host, so no page template: JSON or one line of text.
        reason = "this host name is not one the dashboard answers to (see DASHBOARD_ALLOWED_HOSTS)"
        if request.path.startswith("/api/"):
            return jsonify({"error": reason, "field": "Host"}), 400
        return Response(f"400 Bad Request: {reason}\n", status=400, mimetype="text/plain")

    @app.errorhandler(ActionError)
    def _refused(err: ActionError) -> Any:
        return jsonify(err.as_json()), err.status
