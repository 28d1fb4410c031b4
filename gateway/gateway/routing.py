"""The public API: which upstream serves each operation, and what the gateway asks of the caller.

Auth levels:

- ``public``: no token needed; a token that is sent is still verified (a bad one is refused with 401), and a
  verified caller is counted in their own rate-limit bucket instead of their IP's.
- ``token``: any verified access token. The service that owns the object decides the rest (which citizen,
  which unit, which role or scope): the gateway alone never grants access to an object.

``bucket`` names an extra per-IP rate-limit bucket for routes that need a stricter limit than the caller's
usual one (the public dossier lookup against enumeration, the login endpoints against password guessing).
"""

from dataclasses import dataclass
from typing import Literal

AuthLevel = Literal["public", "token"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    upstream: str
    auth: AuthLevel = "token"
    fallback: str | None = None  # asked when ``upstream`` answers 404
    bucket: Literal["lookup", "login"] | None = None
    # The OAuth/OIDC protocol endpoints are described by the discovery document and the OAuth 2 security
    # scheme, not as REST operations in the merged OpenAPI.
    documented: bool = True


# Service operations deliberately not public: registry reads are made by services with their own credentials.
INTERNAL = {("POST", "/api/v1/identity/prefill"), ("POST", "/api/v1/identity/preview")}

ACTIONS = ("accept", "approve", "reject", "issue-result", "return-result")

ROUTES: list[Route] = [
    # Identity (citizen-id, the mock VNeID provider), on the gateway's address so an app needs one base URL.
    Route("GET", "/.well-known/openid-configuration", "citizen-id", "public", documented=False),
    Route("GET", "/oauth/jwks", "citizen-id", "public", documented=False),
    Route("GET", "/oauth/authorize", "citizen-id", "public", documented=False),
    Route("POST", "/oauth/authorize", "citizen-id", "public", bucket="login", documented=False),
    Route("POST", "/oauth/token", "citizen-id", "public", bucket="login", documented=False),
    # Registry: the citizen's own data (citizen-id).
    Route("GET", "/api/v1/me/profile", "citizen-id"),
    Route("GET", "/api/v1/me/access-log", "citizen-id"),
    Route("GET", "/api/v1/me/mandates", "citizen-id"),
    # Intake: catalogue, submission, the application as submitted, documents.
    Route("GET", "/api/v1/procedures", "intake", "public"),
    Route("GET", "/api/v1/procedures/{code}", "intake", "public"),
    Route("GET", "/api/v1/procedures/{code}/once-only", "intake", "public"),
    Route("POST", "/api/v1/procedures/{code}/versions", "intake"),  # intake: provincial operators only
    Route("GET", "/api/v1/procedures/{code}/versions", "intake", "public"),
    Route("GET", "/api/v1/procedures/{code}/versions/{version}", "intake", "public"),
    Route("POST", "/api/v1/dossiers/preview", "intake"),
    Route("POST", "/api/v1/dossiers", "intake"),
    Route("GET", "/api/v1/dossiers/{code}/application", "intake"),
    Route("POST", "/api/v1/dossiers/{code}/corrections", "intake"),
    Route("POST", "/api/v1/me/documents", "intake"),
    Route("GET", "/api/v1/me/documents", "intake"),
    Route("GET", "/api/v1/me/documents/{document_id}/content", "intake"),
    # Processing holds the timeline once it has opened the case; until its consumer has caught up
    # (milliseconds after submission) intake answers with the receipt-stage view of the same shape.
    Route("GET", "/api/v1/dossiers/{code}", "processing", fallback="intake"),
    Route("GET", "/api/v1/public/dossiers/{code}", "processing", "public", fallback="intake", bucket="lookup"),
    Route("GET", "/api/v1/me/dossiers", "processing"),
    Route("GET", "/api/v1/dossiers/{code}/actions", "processing"),
    Route("POST", "/api/v1/dossiers/{code}/actions", "processing"),
    Route("POST", "/api/v1/dossiers/{code}/supplements", "processing"),
    Route("POST", "/api/v1/dossiers/{code}/extensions", "processing"),
    # Deprecated aliases of POST …/actions (kept while clients move).
    *[Route("POST", f"/api/v1/dossiers/{{code}}/actions/{a}", "processing") for a in ACTIONS],
    Route("GET", "/api/v1/work-queue", "processing"),
    Route("GET", "/api/v1/dossiers/{code}/forms/{form}", "processing"),
    # Statistics, ranking and the Decision 766 index (public), ratings and follow-ups (issue 9).
    Route("GET", "/api/v1/public/statistics", "processing", "public"),
    Route("GET", "/api/v1/public/ranking", "processing", "public"),
    Route("GET", "/api/v1/public/units", "processing", "public"),
    Route("GET", "/api/v1/public/units/{unit_code}/statistics", "processing", "public"),
    Route("GET", "/api/v1/public/units/{unit_code}/index", "processing", "public"),
    Route("POST", "/api/v1/dossiers/{code}/ratings", "processing"),
    Route("GET", "/api/v1/dossiers/{code}/ratings", "processing"),
    Route("GET", "/api/v1/follow-ups", "processing"),
    Route("POST", "/api/v1/follow-ups/{follow_up_id}/close", "processing"),
    # Notify.
    Route("GET", "/api/v1/me/notifications", "notify"),
    Route("POST", "/api/v1/me/notifications/{notification_id}/read", "notify"),
    Route("GET", "/api/v1/dossiers/{code}/notifications", "notify"),
    Route("GET", "/api/v1/me/notification-preferences", "notify"),
    Route("PUT", "/api/v1/me/notification-preferences", "notify"),
    Route("GET", "/api/v1/notification-templates", "notify"),  # notify: provincial operators only
    Route("POST", "/api/v1/notification-templates/{event_type}/{channel}/preview", "notify"),
    Route("GET", "/api/v1/notification-dead-letters", "notify"),
    Route("POST", "/api/v1/notification-dead-letters/{dead_letter_id}/replay", "notify"),
    # Providers' delivery receipts (POST /callbacks/v1/receipts/{channel}) reach notify directly, signed with the
    # shared secret: not part of the public API.
]
