"""The benchmark's HTTP client for single-request latency: one persistent (keep-alive) connection per
server, stdlib http.client, so the client adds as little as possible to what both servers are timed on."""

from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import dataclass, field

import orjson


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: bytes) -> tuple[int, bytes, float]:
        """(status, response body, seconds from the first byte sent to the last byte read)."""
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        started = time.perf_counter()
        self._connection.request("POST", path, body=body, headers=headers)
        response = self._connection.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - started

    def close(self) -> None:
        self._connection.close()


@dataclass
class Paired:
    """Latencies of the floor and the service on the same body, sent alternately."""

    floor: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    @property
    def floor_median(self) -> float:
        return statistics.median(self.floor)

    @property
    def service_median(self) -> float:
        return statistics.median(self.service)

    @property
    def ratio(self) -> float:
        return statistics.median(s / f for s, f in zip(self.service, self.floor, strict=True))


def paired_latency(
    floor_port: int, service_port: int, service_path: str, body: bytes, repeat: int, deadline: float = 60.0
) -> Paired:
    floor, service = Connection(floor_port), Connection(service_port)
    result = Paired()
    try:
        for _ in range(2):  # warm-up: connections, first-use caches
            floor.post("/cds-services/floor", body)
            status, payload, _ = service.post(service_path, body)
            if status != 200:
                raise RuntimeError(f"the service answered {status}: {payload[:500]!r}")
        result.topics = [card["source"]["topic"]["code"] for card in orjson.loads(payload)["cards"]]
        stop = time.perf_counter() + deadline
        for _ in range(repeat):
            result.floor.append(floor.post("/cds-services/floor", body)[2])
            status, payload, seconds = service.post(service_path, body)
            if status != 200:
                raise RuntimeError(f"the service answered {status}: {payload[:500]!r}")
            result.service.append(seconds)
            if time.perf_counter() > stop and len(result.floor) >= 3:
                break
    finally:
        floor.close()
        service.close()
    return result
