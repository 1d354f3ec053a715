"""The route table, one module per resource."""

from __future__ import annotations

from workers.api.endpoint import Endpoint
from workers.api.routes import bindings, dead_letters, events, system

ENDPOINTS: list[Endpoint] = [*bindings.ENDPOINTS, *events.ENDPOINTS, *dead_letters.ENDPOINTS, *system.ENDPOINTS]
