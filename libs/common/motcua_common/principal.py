"""Who a verified caller is: the kinds of caller, officer roles, scopes and :class:`Principal`.

Pure data with no I/O, so that domain modules can decide who may do what without importing the HTTP and token
machinery of :mod:`motcua_common.auth` (which re-exports everything here).
"""

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["citizen", "officer", "partner", "service"]
KINDS: tuple[Kind, ...] = ("citizen", "officer", "partner", "service")

# Officer roles (vai trò cán bộ). An officer has one or more, always within one unit.
RECEIVING_OFFICER = "receiving_officer"  # cán bộ tiếp nhận at a one-stop counter / service centre
SPECIALIST = "specialist"  # chuyên viên thẩm định
APPROVER = "approver"  # lãnh đạo phê duyệt
UNIT_HEAD = "unit_head"  # thủ trưởng đơn vị
PROVINCIAL_OPERATOR = "provincial_operator"  # quản trị cấp tỉnh
OFFICER_ROLES = (RECEIVING_OFFICER, SPECIALIST, APPROVER, UNIT_HEAD, PROVINCIAL_OPERATOR)

# Partner scopes (client credentials of provincial systems, Vietnam Post, delegated bodies).
SCOPE_DOSSIERS_READ = "dossiers:read"  # read any dossier's tracking (status, steps, unit, due dates)
SCOPE_POST_SUBMIT = "dossiers:submit-post"  # submit dossiers received at a post office (channel post)
PARTNER_SCOPES = (SCOPE_DOSSIERS_READ, SCOPE_POST_SUBMIT)
# Service scopes (service-to-service calls).
SCOPE_REGISTRY_READ = "registry:read"  # intake asks citizen-id to verify / prefill on someone's behalf


@dataclass(frozen=True)
class Principal:
    """A verified caller."""

    kind: Kind
    subject: str
    client_id: str
    scopes: frozenset[str] = frozenset()
    personal_id: str | None = None
    name: str | None = None
    unit_code: str | None = None
    roles: frozenset[str] = frozenset()
    token: str = field(default="", repr=False, compare=False)  # the raw token, to pass on (never logged)

    def has_role(self, *roles: str) -> bool:
        return self.kind == "officer" and bool(self.roles.intersection(roles))

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @classmethod
    def from_claims(cls, claims: dict[str, Any], token: str = "") -> "Principal":
        kind = claims.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        if kind == "citizen" and not claims.get("personal_id"):
            raise ValueError("a citizen token needs personal_id")
        if kind == "officer" and not claims.get("unit"):
            raise ValueError("an officer token needs unit")
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise ValueError("roles must be a list")
        return cls(
            kind=kind,
            subject=str(claims["sub"]),
            client_id=str(claims.get("client_id") or ""),
            scopes=frozenset(str(claims.get("scope") or "").split()),
            personal_id=claims.get("personal_id") if kind == "citizen" else None,
            name=claims.get("name"),
            unit_code=claims.get("unit") if kind in ("officer", "partner") else None,
            roles=frozenset(roles) if kind == "officer" else frozenset(),
            token=token,
        )
