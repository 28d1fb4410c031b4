"""Request body limits per path: the shared middleware admits a document upload (5 MiB by default); every other
request keeps the platform's JSON limit (``MOTCUA_MAX_BODY_BYTES``)."""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from motcua_common.problems import status_problem

UPLOAD_PATH = "/api/v1/me/documents"
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file


class _TooLarge(Exception):
    pass


class JsonBodyLimit:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, exempt: tuple[str, ...] = ()):
        self.app, self.max_body_bytes, self.exempt = app, max_body_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = status_problem(Request(scope, receive), 413, f"The body exceeds {self.max_body_bytes} bytes.")
        await resp(scope, receive, send)
