"""Reading request bodies (service.json_body): size limit while streaming, JSON media types, strict
UTF-8 JSON objects with bounded nesting."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from service.exceptions import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from service.json_body import parse_json_object, read_limited_body, require_json_content_type


class _Body:
    """An ASGI receive callable over body chunks that counts how many were consumed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.consumed = 0

    async def __call__(self) -> Message:
        if self.consumed >= len(self.chunks):
            return {"type": "http.disconnect"}
        chunk = self.chunks[self.consumed]
        self.consumed += 1
        return {"type": "http.request", "body": chunk, "more_body": self.consumed < len(self.chunks)}


def _request(headers: dict[str, str], body: _Body | None = None) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/cds-services/x",
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
    }
    return Request(scope, body or _Body([b""]))


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("application/json", id="json"),
        pytest.param("application/json; charset=utf-8", id="json-charset"),
        pytest.param("Application/JSON", id="json-upper-case"),
        pytest.param("application/fhir+json", id="fhir-json"),
        pytest.param(None, id="absent"),
    ],
)
def test_json_content_types_are_accepted(content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}

    require_json_content_type(_request(headers))


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param("application/xml", id="xml"),
        pytest.param("application/jsonp", id="json-lookalike"),
    ],
)
def test_other_content_types_are_refused_with_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        require_json_content_type(_request({"content-type": content_type}))

    assert raised.value.status_code == 415
    assert "is not JSON" in raised.value.message


async def test_body_within_the_limit_is_read_whole() -> None:
    body = _Body([b'{"a":', b" 1}"])

    assert await read_limited_body(_request({}, body), max_bytes=8) == b'{"a": 1}'


async def test_body_of_exactly_the_limit_is_read() -> None:
    body = _Body([b"x" * 10])

    assert await read_limited_body(_request({"content-length": "10"}, body), max_bytes=10) == b"x" * 10


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    body = _Body([b"x" * 100])

    with pytest.raises(PayloadTooLarge) as raised:
        await read_limited_body(_request({"content-length": "100"}, body), max_bytes=10)

    assert raised.value.status_code == 413
    assert body.consumed == 0


async def test_streamed_body_over_the_limit_is_refused_without_reading_the_rest() -> None:
    """No Content-Length (chunked): the limit applies while streaming; the rest is never read."""
    body = _Body([b"x" * 6, b"x" * 6, b"x" * 6, b"x" * 6])

    with pytest.raises(PayloadTooLarge):
        await read_limited_body(_request({}, body), max_bytes=10)

    assert body.consumed == 2


async def test_understated_content_length_does_not_bypass_the_limit() -> None:
    body = _Body([b"x" * 8, b"x" * 8])

    with pytest.raises(PayloadTooLarge):
        await read_limited_body(_request({"content-length": "5"}, body), max_bytes=10)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"hook": "patient-view"}', {"hook": "patient-view"}, id="object"),
        pytest.param('{"name": "Zoë"}'.encode(), {"name": "Zoë"}, id="utf-8"),
        pytest.param(b" \n{}\n", {}, id="whitespace-around"),
    ],
)
def test_json_objects_are_parsed(body: bytes, expected: dict[str, Any]) -> None:
    assert parse_json_object(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "request body is empty", id="empty"),
        pytest.param(b'{"hook": ', "not valid UTF-8 JSON", id="truncated"),
        pytest.param(b"{'hook': 'x'}", "not valid UTF-8 JSON", id="single-quotes"),
        pytest.param(b'{"a": NaN}', "not valid UTF-8 JSON", id="nan"),
        pytest.param(b'{"name": "\xff\xfe"}', "not valid UTF-8 JSON", id="invalid-utf-8"),
        pytest.param('{"name": "Zoë"}'.encode("latin-1"), "not valid UTF-8 JSON", id="latin-1"),
        pytest.param('{"a": 1}'.encode("utf-16"), "not valid UTF-8 JSON", id="utf-16"),
        pytest.param(b'{"a": 1} {"b": 2}', "not valid UTF-8 JSON", id="two-documents"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "not valid UTF-8 JSON", id="100k-nested-arrays"),
        pytest.param(b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "not valid UTF-8 JSON", id="5k-nested-objects"),
        pytest.param(b"[]", "must be a JSON object", id="array"),
        pytest.param(b'"hook"', "must be a JSON object", id="string"),
        pytest.param(b"null", "must be a JSON object", id="null"),
        pytest.param(b"42", "must be a JSON object", id="number"),
    ],
)
def test_bad_json_is_refused_with_a_message(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_json_object(body)

    assert message in raised.value.message
    assert raised.value.status_code == 400
