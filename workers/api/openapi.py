"""The OpenAPI 3.1 document, generated from the route table and the msgspec Structs it names (OpenAPI 3.1 schemas
are JSON Schema 2020-12, which is what msgspec writes)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from workers.api.endpoint import Answer, Endpoint

_PATH_PARAM = re.compile(r"{([^}:]+)}")
REF = "#/components/schemas/{name}"


def _types(endpoints: list[Endpoint]) -> list[Any]:
    out: list[Any] = []
    for ep in endpoints:
        if ep.query is not None:
            out += [f.type for f in msgspec.structs.fields(ep.query)]
        if ep.body is not None:
            out.append(ep.body)
        for answer in ep.answers.values():
            out += list(answer.type) if isinstance(answer.type, tuple) else [answer.type] if answer.type else []
    return out


def build_document(endpoints: list[Endpoint], *, version: str) -> dict[str, Any]:
    types = _types(endpoints)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = {id_: s for id_, s in zip(map(_key, types), schemas, strict=True)}

    def schema(t: Any) -> dict[str, Any]:
        if isinstance(t, tuple):
            return {"anyOf": [schema(x) for x in t]}
        found: dict[str, Any] = schema_of[_key(t)]
        return found

    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schema)
    return {
        "openapi": "3.1.0",
        "info": {"title": "tether", "version": version,
                 "description": "Bindings, completion events, explanations and dead letters of tether over HTTP. "
                                "JSON bodies are camelCase, as the events and binding records on the queues."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "one of the tokens of `api.tokens`"}},
        },
    }


def _key(t: Any) -> str:
    return repr(t)


def _operation(ep: Endpoint, schema: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _PATH_PARAM.findall(ep.path)
    ]
    if ep.query is not None:
        for f in msgspec.structs.fields(ep.query):
            params.append({"name": f.encode_name, "in": "query", "required": f.required, "schema": schema(f.type)})
    for name, description in ep.headers.items():
        params.append({"name": name, "in": "header", "required": False, "description": description,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.tag],
        "parameters": params,
        "responses": {str(status): _response(a, schema) for status, a in sorted(ep.answers.items())},
        "security": [{"bearer": []}] if ep.auth else [],
    }
    if ep.description:
        op["description"] = ep.description
    if ep.body is not None:
        op["requestBody"] = {"required": ep.body_required,
                             "content": {"application/json": {"schema": schema(ep.body)}}}
    return op


def _response(answer: Answer, schema: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.type is not None:
        out["content"] = {answer.media_type: {"schema": schema(answer.type)}}
    if answer.headers:
        out["headers"] = {h: {"schema": {"type": "string"}} for h in answer.headers}
    return out
