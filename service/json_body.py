"""Reading a request body: size limit while streaming, strict UTF-8 JSON, bounded nesting."""

from __future__ import annotations

import gc
from typing import Any

import orjson
from starlette.requests import Request

from service.exceptions import InvalidRequest, PayloadTooLarge, UnsupportedMediaType


async def read_limited_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(f"request body is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def require_json_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    # The spec says application/json; some EHR gateways send the FHIR media type or omit it.
    if media_type and media_type not in ("application/json", "application/fhir+json"):
        raise UnsupportedMediaType(f"content type {media_type!r} is not JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidRequest("request body is empty; a JSON object is required")
    # A heavy record is a million new objects, and the cycle collector would run over and over while
    # they are made. Parsed JSON holds no reference cycles, so it has nothing to find: pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # orjson rejects invalid UTF-8 and nesting deeper than 1024 levels.
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid UTF-8 JSON: {error}") from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(parsed, dict):
        raise InvalidRequest("request body must be a JSON object")
    return parsed
