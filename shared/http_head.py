"""HEAD answered as the GET it stands for, without the body (RFC 9110, section 9.3.2).

FastAPI routes declare GET alone, so a HEAD (load balancers' and uptime checkers' health checks,
`curl -I`) would be a 405. Wrapped in this, the app answers a HEAD as it answers the GET, headers
and status included, and the body is dropped on the way out.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


class HeadAsGet:
    """ASGI middleware: a HEAD request runs as a GET; its answer goes out without its body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headless(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a part of the body: not sent
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headless)
