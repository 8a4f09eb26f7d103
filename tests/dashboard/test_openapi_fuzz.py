"""schemathesis against the real app: every ``/api/v1`` operation of its own OpenAPI document, called
through WSGI over the seeded SQLite file, must never answer 5xx, and every answer must fit the document
(status code and body schema).

Hypothesis is derandomized (same examples on every run, stable in CI) and keeps no example database.
CSRF is switched off for this app only, so that generated bodies reach the validation and the views
(CSRF itself is covered by the API tests).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from dashboard_seed import OPP_KO
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from management_seed import D_CLOSE, seed_decisions
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import Engine

from dashboard import create_app
from shared.config import Config

#: Examples per operation and mode (21 operations × 2 modes).
MAX_EXAMPLES = 25


#: A seeded row for each id in a path: an opportunity of the newest scan, a pending decision, an intent.
SEEDED = {"opportunity_id": OPP_KO, "decision_id": D_CLOSE, "intent_id": 1, "order_id": 1}
#: What every response must satisfy.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def _fuzz(operation: Any, mode: GenerationMode, path_parameters: dict[str, int] | None = None) -> None:
    """Call ``operation`` with :data:`MAX_EXAMPLES` generated requests of ``mode`` (ids in the path fixed
    to ``path_parameters`` when given) and run :data:`CHECKS`."""

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def _has_parameters(operation: Any) -> bool:
    return any(True for _ in operation.iter_parameters())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_api_operation_answers_generated_requests_by_its_document(
    engine: Engine, config: Config, mode: GenerationMode
) -> None:
    """Requests that fit the document (positive) and that break it (negative): no 5xx, and every answer
    is documented. A failure names the operation and the request that broke it. Positive requests also
    run once more on the seeded rows (random ids rarely exist), so approvals and rejections are reached."""
    seed_decisions(engine)
    app = create_app(config, engine)
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["VALIDATE_RESPONSES"] = True  # a misfit answer is a 500 here (off in production)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 21  # every /api/v1 route is in the document
    for operation in operations:
        try:
            _fuzz(operation, mode)
            names = {param.name for param in operation.iter_parameters() if param.location == "path"}
            if mode is GenerationMode.POSITIVE and names:
                _fuzz(operation, mode, {name: SEEDED[name] for name in names})
        except Unsatisfiable:
            # nothing to break in an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE and not operation.body and not _has_parameters(operation)
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path} ({mode}): {exc}") from exc
