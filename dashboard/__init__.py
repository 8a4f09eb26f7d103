"""thetawheel dashboard: a Flask app that reads the shared database and records the user's decisions.

It never talks to TWS. :func:`create_app` builds the app; ``python -m dashboard`` serves it with
waitress on ``DASHBOARD_HOST:DASHBOARD_PORT`` (127.0.0.1:7001 by default).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

import dashboard.charts  # noqa: F401  (registers the /api/v1/charts/... routes on api.bp)
from dashboard import api, formatting, login, riskview, security, views
from dashboard.runtime import resolve_secret_key
from dashboard.state import install
from shared.config import Config
from shared.db import utcnow

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per app rather than on every
    request (the secret key does not change while the app runs)."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The app's serializer (``None`` without a secret key, as Flask's own)."""
        cached: URLSafeTimedSerializer | None = app.extensions.get("thetawheel.session_serializer")
        if cached is None:
            cached = super().get_signing_serializer(app)
            if cached is not None:
                app.extensions["thetawheel.session_serializer"] = cached
        return cached


def create_app(config: Config, engine: Engine, *, secret_key: str | None = None) -> Flask:
    """Build the dashboard app over ``engine``.

    The secret key (which signs sessions and CSRF tokens) is ``secret_key`` if given, else
    ``DASHBOARD_SECRET_KEY``, else a key generated once into ``dashboard-secret.key`` next to the
    SQLite file and reused after that. Requests pass :mod:`dashboard.security` (trusted hosts, body
    limits, ids) and, beyond loopback, the token login (:mod:`dashboard.login`).
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or resolve_secret_key(config.settings),
        SESSION_COOKIE_NAME="thetawheel_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session; the page reloads anyway
        JSON_SORT_KEYS=False,
        REFRESH_SECONDS=config.settings.DASHBOARD_REFRESH_SECONDS,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = SessionCookies()
    install(app, config, engine)
    security.install(app, config.settings)  # before the blueprints: their ids use its converter
    login.install(app)  # before CSRF: a request without the login is refused as such
    CSRFProtect(app)
    app.before_request(security.check_json_body)
    formatting.register(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        try:  # the halt banner on every page; an error page must render even without the database
            banner = riskview.halt_banner(engine)
        except SQLAlchemyError:
            banner = None
        return {"now": utcnow(), "refresh_seconds": app.config["REFRESH_SECONDS"], "halt_banner": banner}

    @app.after_request
    def _headers(response: Any) -> Any:
        present = {name.lower() for name, _ in response.headers.items()}  # one pass, not one per header
        for name, value in _SECURITY_HEADERS.items():
            if name.lower() not in present:
                response.headers.add(name, value)
        if "cache-control" not in present and (
            request.path.startswith("/api/") or response.mimetype == "text/html"
        ):
            response.headers.add("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError) -> Any:
        reason = f"{err.description} Reload the page (or fetch /api/v1/csrf) and try again."
        if request.path.startswith("/api/"):
            return jsonify({"error": reason, "field": "csrf_token"}), 400
        return render_template("error.html", page=None, code=400, title="Request refused", reason=reason), 400

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        code = err.code or 500
        if request.path.startswith("/api/"):
            return jsonify({"error": err.description, "field": None}), code
        return render_template(
            "error.html", page=None, code=code, title=err.name, reason=err.description
        ), code

    return app
