"""`tether api`: the whole public contract over HTTP for agent runners in any language (DESIGN §10).

Starlette routes the requests, msgspec decodes, validates and encodes them with the same Structs the CLI and the
queues use (camelCase), and the OpenAPI 3.1 document is generated from those Structs and the route table
(`routes/`). Handlers are the existing services, run on a worker thread each: the Redis client is synchronous.
"""

from workers.api.app import create_app
from workers.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
