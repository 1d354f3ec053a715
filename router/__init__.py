"""Completion ingress and routing: the event schema, the enqueue API, the decision table and the route job."""

from router.decision import BoundDeliveryRouter, RouteDecision
from router.enqueue import enqueue_completion, enqueue_completions, requeue_event
from router.event import CompletionEvent, Requester

__all__ = [
    "BoundDeliveryRouter",
    "CompletionEvent",
    "Requester",
    "RouteDecision",
    "enqueue_completion",
    "enqueue_completions",
    "requeue_event",
]
