"""Alerting: an outbox in the shared database, delivered by email and SMS behind shared circuit breakers.

``enqueue`` records an alert from any process; every process runs a ``Dispatcher`` that sends it.
"""

from shared.alerts.dispatcher import Dispatcher
from shared.alerts.outbox import enqueue

__all__ = ["Dispatcher", "enqueue"]
