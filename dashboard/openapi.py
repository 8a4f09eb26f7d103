"""Request validation and the OpenAPI document of ``/api/v1``, both from :mod:`dashboard.apimodels`.

Library: **spectree** (``SpecTree("flask")``). Each API view carries ``@SPEC.validate(query=…, json=…,
resp=…)``; spectree validates the query string and the JSON body with those pydantic v2 models before the
view runs, checks the response against its model (only when ``app.config["VALIDATE_RESPONSES"]`` is
true, as in the tests: :class:`ResponseCheckPlugin`), and builds the OpenAPI 3 document from the same
decorators, the Flask URL rules (path ids) and the docstrings. Why spectree over the alternatives (PyPI,
December 2026): spectree 3.0 (September 2026) is maintained, supports Flask 3 and pydantic 2, and
decorates plain Flask views on our existing ``Blueprint``, so the pages, CSRF and error handlers stay as
they are; flask-openapi3 4.3 would replace the ``Flask`` app and blueprints with its own classes; apispec
+ marshmallow (flask-smorest 0.47) would add a second schema language next to pydantic, which the project
already uses for its settings and strategy.

Refusals keep the API's shape ``{"error", "field"}`` (:class:`dashboard.errors.ActionError`): the
``before`` hook turns spectree's validation error into a 400 naming the first offending field. The
document is served at ``/api/v1/openapi.json`` (no Swagger UI: it would load scripts from a CDN, and the
dashboard works offline). Path ids are documented as 64-bit integers, matching
:class:`dashboard.security.IdConverter`.
"""

from __future__ import annotations

import copy
from typing import Any

import flask
from flask import current_app
from pydantic import ValidationError
from spectree import Response, SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin

from dashboard.apimodels import MAX_SQL_INT, ErrorBody
from dashboard.errors import ActionError

#: The title and version shown in the document.
TITLE, VERSION = "thetawheel dashboard API", "1"


def _refuse(req: Any, resp: Any, err: Exception | None, instance: Any, model_adapter: Any = None) -> None:
    """spectree's ``before`` hook: a request that does not fit its model becomes a 400 ``ActionError``
    naming the field (``null`` for the body as a whole)."""
    if err is None:
        return
    if not isinstance(err, ValidationError) or not err.errors():
        raise ActionError(400, f"invalid request: {err}", None)
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    field = loc[0] if loc else None
    if first["type"] == "extra_forbidden":
        unknown = sorted({str(e["loc"][0]) for e in err.errors() if e["type"] == "extra_forbidden"})
        raise ActionError(400, f"unknown field(s): {', '.join(unknown)}", unknown[0])
    message = first["msg"].removeprefix("Value error, ")
    shown = repr(first.get("input"))
    got = f", got {shown[:60]}" if "input" in first and "got" not in message else ""
    raise ActionError(400, f"{field or 'body'}: {message}{got}", field)


#: ``app.config`` key: true to check every answer against its response model (the tests set it; in
#: production it is off, see :class:`ResponseCheckPlugin`).
VALIDATE_RESPONSES = "VALIDATE_RESPONSES"


class ResponseCheckPlugin(FlaskPlugin):
    """spectree's Flask plugin, with the response check only where ``app.config[VALIDATE_RESPONSES]`` is
    true. Requests are always validated.

    Checking an answer parses and re-serialises its whole body (a third of a request's time on the larger
    endpoints) and turns an answer that misfits its model into a bare 500; the tests (and schemathesis)
    switch it on so a misfit fails there, and a user is served the view's answer as it is."""

    def request_validation(
        self, request: Any, query: Any, json: Any, form: Any, headers: Any, cookies: Any
    ) -> None:
        """Validate the request's parts that have a model; a view without any (most ``GET`` views) skips
        reading the headers and cookies, which spectree collects before it looks."""
        if query is None and json is None and form is None and headers is None and cookies is None:
            request.context = Context(None, None, None, None, None)
            return
        super().request_validation(request, query, json, form, headers, cookies)

    def validate_response(
        self, resp: Any, resp_model: Response | None, skip_validation: bool, force_resp_serialize: bool
    ) -> Any:
        """The view's answer as a Flask response, checked against ``resp_model`` only when enabled."""
        check = bool(current_app.config.get(VALIDATE_RESPONSES, False))
        if not check and isinstance(resp, flask.Response):
            return resp, None
        return super().validate_response(resp, resp_model, skip_validation or not check, force_resp_serialize)


#: The API's validator and document builder; views register with ``@SPEC.validate(...)``.
SPEC = SpecTree(
    "flask",
    backend=ResponseCheckPlugin,
    mode="strict",
    path="openapi-internal",  # never registered: the document is served by dashboard.api.openapi
    page_templates={},
    title=TITLE,
    version=VERSION,
    description="The thetawheel dashboard's JSON API. State-changing requests need a CSRF token "
    "(GET /api/v1/csrf, then the X-CSRFToken header with the session cookie); beyond loopback, a token "
    "login (POST /login) first. Errors are {error, field}.",
    before=_refuse,
    validation_error_status=400,
    validation_error_model=ErrorBody,
)


def responses(ok: tuple[int, type[Any]], *errors: int, body: bool = False) -> Response:
    """A spectree :class:`Response` for a view: its success code and model, the ``errors`` it refuses
    with, and the refusals every view may give (400 bad parameter, 401 no login; for views with a
    ``body``, 413 too large and 415 not JSON), all with :class:`ErrorBody`."""
    codes = {400, 401, *errors} | ({413, 415} if body else set())
    models: dict[str, Any] = {f"HTTP_{code}": ErrorBody for code in sorted(codes)}
    models[f"HTTP_{ok[0]}"] = ok[1]
    return Response(**models)


#: How every id in a path is described: what :class:`dashboard.security.IdConverter` accepts.
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_SQL_INT}


def document() -> dict[str, Any]:
    """The OpenAPI document of the current app's ``/api/v1`` views (built once, then copied); call it
    inside a request or app context."""
    spec = copy.deepcopy(SPEC.spec)
    for operations in spec["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param.get("in") == "path" and param.get("schema", {}).get("type") == "integer":
                    param["schema"] = dict(ID_SCHEMA)
                    param["description"] = param.get("description") or (
                        f"the {param['name'].removesuffix('_id')}'s id (404 when there is none)"
                    )
    return spec
