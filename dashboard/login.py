"""Token login, required when the dashboard binds beyond loopback (``DASHBOARD_HOST`` not 127.0.0.1 / ::1 /
localhost; :attr:`shared.settings.Settings.login_required`). On loopback nothing changes: no login.

The secret is ``DASHBOARD_TOKEN`` from ``.env`` (16+ characters, checked when the settings load). The login
page posts it with a CSRF token; it is compared in constant time (:func:`hmac.compare_digest`). A match
starts a fresh session (the signed ``thetawheel_session`` cookie: HttpOnly, SameSite=Strict, and Secure
with ``DASHBOARD_SECURE_COOKIE=true`` behind TLS). Without that session an API request is a 401 with the
API's JSON error, and a page redirects (303) to ``/login?next=<page>``. ``GET /api/v1/csrf`` stays open,
so scripts can log in: fetch a CSRF token, then ``POST /login`` with ``token`` and ``csrf_token``.

Guessing is slowed by the ``limits`` library (a moving window, the one Flask-Limiter is built on): at most
:data:`LOGIN_ATTEMPTS` login posts per client address (a 429 with ``Retry-After`` beyond), counted in memory
per dashboard process, so a restart forgets them. Only the login post is counted: the other requests pay
nothing for it (a Flask-Limiter hook on every request cost a fifth of a cached API answer's time).
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, session, url_for
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.wrappers import Response

from dashboard.state import state

bp = Blueprint("login", __name__)

#: Session key set by a successful login.
SESSION_KEY = "logged_in"
#: Endpoints reachable without a login: the login itself, static files, and a CSRF token for scripts.
OPEN_ENDPOINTS = frozenset({"login.login", "login.logout", "static", "api.csrf"})
#: Login posts one client address may make (the ``limits`` notation); the wrong and the right alike.
LOGIN_ATTEMPTS = "5 per minute"
#: Where :func:`install` keeps the app's attempt counter and whether it needs a login, in ``app.extensions``.
EXTENSION_KEY = "thetawheel.login"


class LoginGuard:
    """One app's login rule: ``required`` (the settings' :attr:`~shared.settings.Settings.login_required`,
    read once) and the attempts counted per client address (in memory)."""

    def __init__(self, required: bool) -> None:
        self.required = required
        self.limit = parse(LOGIN_ATTEMPTS)
        self.counter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str) -> int | None:
        """Count one login post from ``address``: ``None`` when allowed, else whole seconds to wait."""
        if self.counter.hit(self.limit, "login", address):
            return None
        reset = self.counter.get_window_stats(self.limit, "login", address).reset_time
        return max(1, math.ceil(reset - time.time()))


def _guard() -> LoginGuard:
    guard: LoginGuard = current_app.extensions[EXTENSION_KEY]
    return guard


def _required() -> bool:
    return _guard().required


def _safe_next(target: str | None) -> str:
    """A local path to return to after the login (never another site: ``//host`` or ``https://…``)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("views.overview")


def token_matches(given: str) -> bool:
    """True when ``given`` is ``DASHBOARD_TOKEN`` (constant-time comparison of the UTF-8 bytes)."""
    expected = state().config.settings.DASHBOARD_TOKEN.get_secret_value()
    return bool(expected) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; on POST, check the token and start the session (303 to ``next``), else 401."""
    next_url = _safe_next(request.values.get("next"))
    if not _required():
        return redirect(next_url, code=303)
    if request.method == "GET":
        return render_template("login.html", error=None, next_url=next_url)
    wait = _guard().retry_after(request.remote_addr or "unknown")
    if wait is not None:
        error = f"Too many login attempts: try again in {wait} s."
        page = render_template("login.html", error=error, next_url=next_url)
        return page, 429, {"Retry-After": str(wait)}
    if token_matches(request.form.get("token", "")):
        session.clear()
        session[SESSION_KEY] = True
        session["user"] = f"token login {request.remote_addr or 'unknown'}"
        return redirect(next_url, code=303)
    return render_template("login.html", error="Wrong token.", next_url=next_url), 401


@bp.post("/logout")
def logout() -> Response:
    """End the session; back to the login page."""
    session.clear()
    return redirect(url_for("login.login"), code=303)


def require_login() -> Any:
    """``before_request``: when a login is required and the session has none, 401 (API) or a redirect
    to the login page (pages); ``None`` lets the request through."""
    if request.endpoint in OPEN_ENDPOINTS or not _required() or session.get(SESSION_KEY) is True:
        return None
    if request.routing_exception is not None:  # a foreign host (400) or no such route: refused as such
        return None
    if request.path.startswith("/api/"):
        reason = "log in first: POST the DASHBOARD_TOKEN to /login (see GET /api/v1/csrf)"
        return jsonify({"error": reason, "field": "token"}), 401
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("login.login", next=target), code=303)


def install(app: Flask) -> None:
    """The login blueprint, its :class:`LoginGuard` (the app's own, so two apps in one process count
    apart) and its check, before every other ``before_request`` (CSRF included), so a request without a
    login is refused as such."""
    with app.app_context():
        app.extensions[EXTENSION_KEY] = LoginGuard(state().config.settings.login_required)
    app.register_blueprint(bp)
    app.before_request(require_login)
