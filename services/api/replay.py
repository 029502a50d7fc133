"""Replaying rendered answers before the framework sees the request.

A repeated GET for an answer this replica has already rendered at the current read state is sent
from the memo by this middleware: no routing, no parameter parsing, no dependency injection. What
is memoised was rendered by a route for exactly this URL and representation, so it was valid.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.answers import Answers


class ReplayMiddleware:
    """Answers a GET from the replica's memo before the framework parses it (see `Answers.replay`)."""

    def __init__(self, app: ASGIApp, answers: Answers) -> None:
        self.app = app
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            response = self.answers.replay(Request(scope))
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
