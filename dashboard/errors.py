"""The dashboard's refusal: one exception class for every action, rendered as JSON by the API and as a flash
message by the pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ActionError(Exception):
    """A refused action: HTTP ``status``, a one-line ``message`` and the offending ``field``; ``check`` names
    the risk limit (:class:`shared.risk.RiskCheck`) when the risk gate refused."""

    status: int
    message: str
    field: str | None = None
    intent_key: str | None = None
    check: str | None = None

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        """The API's error body: ``{"error", "field"}`` plus ``intent_key`` / ``check`` when known."""
        body: dict[str, Any] = {"error": self.message, "field": self.field}
        if self.intent_key:
            body["intent_key"] = self.intent_key
        if self.check:
            body["check"] = self.check
        return body
