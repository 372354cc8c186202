"""/docs.json: BentoML's OpenAPI document of the service, completed with what BentoML cannot know.

BentoML documents the POST APIs from their input and output models, but declares its own error shapes
(InvalidArgument, NotFound, InternalServerError: {"error": str, "detail": str}) that this service never
sends, and nothing of a mounted plain Starlette app (GET /model). Here every API's error answers point
at the one error body (schemas.ErrorResponse), /reload's 503 at ReloadFailure, and GET /model and GET /status
(schemas.StatusResponse) are added.
The /ui pages (HTML, PNG) are for people and stay out of the document.
"""

from __future__ import annotations

import copy
import json

from pydantic import BaseModel

from serving.auth import API_KEY_HEADER
from serving.schemas import ErrorResponse, ReloadFailure, StatusResponse

REF = "#/components/schemas/{model}"
BENTOML_ERRORS = ("InvalidArgument", "NotFound", "InternalServerError")
ERRORS = {
    "400": "Bad Request: a field that cannot be used; the message starts with its name (also an unknown field, "
    "a body that is not a JSON object, a date out of range)",
    "401": f"Unauthorized: the server requires an API key and the {API_KEY_HEADER} header is missing",
    "403": f"Forbidden: the {API_KEY_HEADER} header does not match the server's key",
    "413": "Payload Too Large: the request body exceeds serving.max_body_bytes (default 64 KB)",
    "415": "Unsupported Media Type: the body is not application/json",
    "500": "Internal Server Error: a bug; the server log has the traceback",
    "503": "Service Unavailable: the universe asked for is configured but could not be loaded (the message says why)",
}
GET_ERRORS = ("400", "401", "403", "413", "500", "503")
STATUS_OPERATION = {  # a plain Starlette route (serving/service.py get_status): BentoML does not know it
    "tags": ["Service APIs"],
    "description": "The refresh schedule (last refresh, outcome, next due, market open) and the data age per "
    "universe (no parameters)",
    "operationId": "SectorHeatmap__get_status",
}


def _ref(model: type[BaseModel], description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def component_schemas(*models: type[BaseModel]) -> dict:
    """JSON schemas of `models` and of every model they use, keyed by name, as OpenAPI components."""
    out: dict = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def openapi_document(spec: dict) -> dict:
    """The served /docs.json from BentoML's document (`Service.openapi_spec.asdict()`)."""
    spec = json.loads(json.dumps(spec))  # a deep copy, with status codes as strings as they are served
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in BENTOML_ERRORS:
        schemas.pop(name, None)
    schemas.update(component_schemas(ErrorResponse, ReloadFailure, StatusResponse))
    errors = {status: _ref(ErrorResponse, text) for status, text in ERRORS.items()}
    paths = spec["paths"]
    for item in paths.values():
        op = item.get("post")
        if op is None or "x-bentoml-name" not in op:  # BentoML's infrastructure endpoints (probes, metrics)
            continue
        op["responses"] = {**{k: v for k, v in op["responses"].items() if k.startswith("2")}, **errors}
    if "/reload" in paths:  # its 503 is a failed reload, answered with the state still served
        paths["/reload"]["post"]["responses"]["503"] = _ref(
            ReloadFailure, "Service Unavailable: the reload failed; the old state keeps serving"
        )
    if "/model" in paths:
        post = paths["/model"]["post"]
        paths["/model"]["get"] = {
            "tags": post.get("tags", []),
            "description": post.get("description", ""),
            "operationId": "SectorHeatmap__get_model",
            "parameters": [
                {
                    "name": "universe",
                    "in": "query",
                    "required": False,
                    "description": "one of the universes this server loaded (default: the first)",
                    "schema": {"type": "string", "example": "us_sectors"},
                }
            ],
            "responses": {"200": copy.deepcopy(post["responses"]["200"]), **{k: errors[k] for k in GET_ERRORS}},
        }
    status_errors = {k: errors[k] for k in ("401", "403", "500")}
    paths["/status"] = {"get": {**STATUS_OPERATION, "responses": {"200": _ref(StatusResponse, "OK"), **status_errors}}}
    return spec
