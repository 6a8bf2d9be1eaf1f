"""Private Network Access preflights (https://wicg.github.io/private-network-access/).

A page served from the public internet (the hosted CDS Hooks Sandbox) calling a service on localhost or
an intranet address makes Chromium send `Access-Control-Request-Private-Network: true` on the CORS
preflight; the call goes ahead only if the answer carries `Access-Control-Allow-Private-Network: true`.
This middleware sits outside Starlette's CORS middleware and adds that header to a successful preflight
that asked for it. It changes nothing else: the origin, method and header checks stay CORS's.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_HEADER = "access-control-request-private-network"
ALLOW_HEADER = "Access-Control-Allow-Private-Network"


class PrivateNetworkAccessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        asks = headers.get(REQUEST_HEADER, "").lower() == "true"
        if not asks or "access-control-request-method" not in headers:
            await self.app(scope, receive, send)
            return

        async def send_allowing(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                MutableHeaders(scope=message)[ALLOW_HEADER] = "true"
            await send(message)

        await self.app(scope, receive, send_allowing)
