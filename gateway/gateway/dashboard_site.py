"""``/dashboard/``: the public dashboard (ranking, each unit's figures and Decision 766 index, a unit head's view),
plain HTML/JS/CSS served from this package's ``dashboard/`` folder by Starlette's StaticFiles.

Every response carries a Content-Security-Policy that allows only this origin (scripts, styles, images, API
calls; no inline code, no framing), ``no-referrer`` (the login's authorization code lands in the page's address
before the script removes it) and ``nosniff``. The chart library in ``vendor/`` carries its version in its name
and is cached for a year; the pages and their scripts are revalidated (``no-cache``, with StaticFiles' ETag) so
a new release is seen at once. Types are set here rather than guessed from the host's mime.types, so ``.js`` is
``text/javascript`` on every machine."""

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DIRECTORY = Path(__file__).parent / "dashboard"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"


class DashboardFiles(StaticFiles):
    def __init__(self) -> None:
        super().__init__(directory=DIRECTORY, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.status_code in (200, 304):
            name = path.rsplit("/", 1)[-1]
            suffix = Path(name).suffix if "." in name else ".html"  # "" and "." are the folder's index.html
            if suffix in TYPES and response.status_code == 200:
                response.headers["Content-Type"] = TYPES[suffix]
            response.headers["Cache-Control"] = IMMUTABLE if path.startswith("vendor/") else "no-cache"
        return response
