"""The public API: which upstream serves each operation, and who may call it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    upstream: str
    officer: bool = False  # needs an officer's bearer token
    fallback: str | None = None  # asked when ``upstream`` answers 404


ACTIONS = ("accept", "approve", "reject", "issue-result", "return-result")

ROUTES: list[Route] = [
    Route("GET", "/api/v1/procedures", "intake"),
    Route("GET", "/api/v1/procedures/{code}", "intake"),
    Route("POST", "/api/v1/dossiers", "intake"),
    # Processing holds the timeline once it has opened the case; until its consumer has caught up
    # (milliseconds after submission) intake answers with the receipt-stage view of the same shape.
    Route("GET", "/api/v1/dossiers/{code}", "processing", fallback="intake"),
    Route("GET", "/api/v1/dossiers/{code}/notifications", "notify"),
    *[Route("POST", f"/api/v1/dossiers/{{code}}/actions/{a}", "processing", officer=True) for a in ACTIONS],
    Route("GET", "/api/v1/work-queue", "processing", officer=True),
]
