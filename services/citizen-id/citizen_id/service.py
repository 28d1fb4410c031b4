"""Use cases of the population registry: reads on someone's behalf (decided, then logged with caller, purpose
and fields), the citizen's own record, access log and mandates, and correction requests. Functions take the
request's connection and never commit.

The decision comes first and uses only the caller's identity and the mandate tables (households, written
authorizations, the business registry): a refused read never touches the record of the person asked about and
leaves no trace in their access log."""

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from motcua_common import FieldError, ProblemError
from motcua_common.auth import (
    RECEIVING_OFFICER,
    SCOPE_POST_SUBMIT,
    SCOPE_REGISTRY_READ,
    Principal,
    forbidden,
    own_personal_id,
    unauthorized,
)
from motcua_common.contracts import RegistryCorrectionRequested
from motcua_common.pagination import decode_keyset, encode_keyset

from . import repository
from .domain import (
    ORGANISATION_FIELDS,
    InvalidPersonalIdError,
    ParsedId,
    PrefillField,
    Via,
    adult_on,
    dossier_ref,
    household_mandate,
    parse_personal_id,
)

log = logging.getLogger("citizen_id")

NOT_FOUND_TITLE = "Không tìm thấy công dân trong Cơ sở dữ liệu quốc gia về dân cư"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> date:
    """Validity periods and ages are reckoned in Vietnam's calendar day."""
    return datetime.now(VIETNAM).date()


def checked_personal_id(value: str) -> ParsedId:
    try:
        return parse_personal_id(value)
    except InvalidPersonalIdError as exc:
        raise ProblemError(
            422,
            "invalid-personal-id",
            "Số định danh cá nhân không hợp lệ",
            str(exc),
            errors=[FieldError(field="personal_id", message=str(exc))],
        ) from None


def _not_found(personal_id: str) -> ProblemError:
    return ProblemError(
        404,
        "citizen-not-found",
        NOT_FOUND_TITLE,
        f"No citizen with personal id {personal_id} in the population registry.",
    )


# --- who is asking ---


@dataclass(frozen=True)
class Caller:
    """A registry read names two parties: the system that calls (its own service token) and the end user it
    acts for (their access token, passed in ``X-On-Behalf-Of``)."""

    service: Principal
    user: Principal


def check_service(service: Principal | None) -> Principal:
    if service is None:
        raise unauthorized("A registry read needs the calling service's access token in Authorization.")
    if service.kind != "service":
        raise forbidden(f"Registry reads are made by services on a user's behalf, not by a {service.kind} token.")
    if not service.has_scope(SCOPE_REGISTRY_READ):
        raise forbidden(f"The service token lacks the scope {SCOPE_REGISTRY_READ}.")
    return service


def check_user(user: Principal | None) -> Principal:
    if user is None:
        raise unauthorized("A registry read needs the end user's access token in X-On-Behalf-Of.")
    if user.kind == "partner" and user.has_scope(SCOPE_POST_SUBMIT):
        return user  # post-office staff taking a dossier for the person in front of them (Decision 45/2016)
    if user.kind not in ("citizen", "officer"):
        raise forbidden(f"Registry reads are made for a citizen or an officer, not a {user.kind}.")
    return user


def _refused(detail: str) -> ProblemError:
    return forbidden(detail)


async def decide_person(conn: asyncpg.Connection, user: Principal, personal_id: str, on: date) -> Via:
    """Why ``user`` may read ``personal_id``'s record, or 403. Reads only the mandate tables."""
    if user.kind == "partner":
        return "post"  # check_user let only a partner with the post-submission scope through
    if user.kind == "officer":
        if user.has_role(RECEIVING_OFFICER):
            return "counter"
        raise _refused("Only a receiving officer, serving the person at a counter, may read their registry record.")
    if user.personal_id == personal_id:
        return "self"
    relation = await repository.household_relation(conn, own_personal_id(user), personal_id)
    if relation is not None and household_mandate(relation["relation"], relation["date_of_birth"], on):
        return "household"
    if await repository.valid_authorization(conn, own_personal_id(user), personal_id, on) is not None:
        return "authorization"
    raise _refused("You hold no mandate for this person: not yourself, not a minor or ward of your household, "
                   "and no written authorization valid today.")  # fmt: skip


async def decide_organisation(conn: asyncpg.Connection, user: Principal, tax_code: str, on: date) -> str:
    if user.kind == "citizen":
        role = await repository.company_role(conn, own_personal_id(user), tax_code, on)
        if role is not None:
            return role
    raise _refused("Only the organisation's legal representative or a person it authorized may act for it.")


# --- reads on someone's behalf (prefill and preview) ---


@dataclass(frozen=True)
class Read:
    via: Via
    personal_id: str | None = None
    subject: str | None = None
    person: dict[str, Any] | None = None
    tax_code: str | None = None
    organisation: dict[str, Any] | None = None
    role: str | None = None


async def read_for(
    conn: asyncpg.Connection,
    caller: Caller,
    *,
    personal_id: str | None,
    tax_code: str | None,
    fields: list[PrefillField],
    purpose: str,
    on: date | None = None,
) -> Read:
    """Decide, then read and log (no data leaves without its log row: a person's record is read and logged in one
    statement; an organisation's log row is written before its data is returned). Needs no transaction of the
    caller's: the routes call it on a connection without one (one round trip less for ``BEGIN``, one for
    ``COMMIT``)."""
    on = on or today()
    user = caller.user
    logged: dict[str, Any] = {
        "purpose": purpose,
        "caller_kind": user.kind,
        "caller_id": user.subject,
        "caller_unit": user.unit_code if user.kind == "officer" else None,
        "via_service": caller.service.client_id or caller.service.subject,
        "dossier_ref": dossier_ref(purpose),
    }
    if tax_code is not None:
        role = await decide_organisation(conn, user, tax_code, on)
        company = await repository.get_company(conn, tax_code)
        if company is None:  # a mandate names a company the registry no longer has
            raise ProblemError(404, "organisation-not-found", "Không tìm thấy doanh nghiệp",
                               f"No organisation with tax code {tax_code}.")  # fmt: skip
        if company["status"] != "active":
            raise ProblemError(409, "organisation-not-active", "Doanh nghiệp không còn hoạt động",
                               f"The organisation {tax_code} is recorded as {company['status']}.")  # fmt: skip
        await repository.insert_access(
            conn, tax_code=tax_code, fields=list(ORGANISATION_FIELDS), on_behalf_via="organisation", **logged
        )
        return Read(
            via="organisation",
            tax_code=tax_code,
            organisation={f: company[f] for f in ORGANISATION_FIELDS},
            role=role,
        )
    assert personal_id is not None  # the request model requires personal_id or tax_code
    checked_personal_id(personal_id)
    via = await decide_person(conn, user, personal_id, on)
    wanted = list(dict.fromkeys(fields))
    # the record and its access log row in one statement (logged only when it is disclosed: an active citizen)
    row = await repository.read_citizen_logged(conn, personal_id, {**logged, "fields": wanted, "on_behalf_via": via})
    if row is None:
        raise _not_found(personal_id)
    if row["status"] != "active":
        raise ProblemError(
            409,
            "citizen-not-active",
            "Công dân không còn ở trạng thái hoạt động",
            f"The citizen {personal_id} is recorded as {row['status']}; no data is disclosed.",
        )
    return Read(via=via, personal_id=personal_id, subject=row["subject"], person={f: row[f] for f in wanted})


# --- the citizen's own data ---


@dataclass(frozen=True)
class Profile:
    record: asyncpg.Record
    corrections: list[asyncpg.Record]


async def profile(conn: asyncpg.Connection, citizen: Principal) -> Profile:
    """The citizen's own record (not an access by a third party: not logged) and their open corrections."""
    row = await repository.get_citizen(conn, own_personal_id(citizen))
    if row is None:
        raise _not_found(own_personal_id(citizen))
    return Profile(row, await repository.open_corrections(conn, own_personal_id(citizen)))


@dataclass(frozen=True)
class AccessPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _accessor(r: asyncpg.Record, own_subject: str) -> dict[str, Any]:
    if r["caller_kind"] is None:  # recorded before callers were named
        return {"kind": "system", "id": r["requested_by"]}
    return {
        "kind": r["caller_kind"],
        "id": r["caller_id"],
        "unit": r["caller_unit"],
        "is_self": r["caller_kind"] == "citizen" and r["caller_id"] == own_subject,
    }


async def access_log(conn: asyncpg.Connection, citizen: Principal, limit: int, cursor: str | None) -> AccessPage:
    before = decode_keyset(cursor, int) if cursor else None
    rows = await repository.list_access(conn, own_personal_id(citizen), limit + 1, before)
    page = rows[:limit]
    items = [
        {
            "accessed_at": r["accessed_at"],
            "who": _accessor(r, citizen.subject),
            "via_service": r["via_service"] or r["requested_by"],
            "on_behalf_via": r["on_behalf_via"],
            "fields": r["fields"],
            "purpose": r["purpose"],
            "dossier": r["dossier_ref"],
        }
        for r in page
    ]
    more = len(rows) > limit
    return AccessPage(items, encode_keyset(page[-1]["accessed_at"], page[-1]["id"]) if more else None)


async def mandates(conn: asyncpg.Connection, citizen: Principal, on: date | None = None) -> dict[str, list]:
    """People and organisations the citizen may act for today. Showing a person's name is a read of their
    record, so each listed person gets an access-log row (purpose ``mandates``)."""
    on = on or today()
    me = own_personal_id(citizen)
    people: list[dict[str, Any]] = []
    for r in await repository.household_dependants(conn, me):
        if household_mandate(r["relation"], r["date_of_birth"], on):
            until = None
            if r["relation"] == "child":
                until = date.fromordinal(adult_on(r["date_of_birth"]).toordinal() - 1)
            people.append({"personal_id": r["personal_id"], "full_name": r["full_name"], "relation": r["relation"],
                           "valid_to": until, "_via": "household"})  # fmt: skip
    for r in await repository.authorizations_held(conn, me, on):
        people.append({"personal_id": r["personal_id"], "full_name": r["full_name"], "relation": "authorization",
                       "valid_from": r["valid_from"], "valid_to": r["valid_to"], "document_ref": r["document_ref"],
                       "_via": "authorization"})  # fmt: skip
    for p in people:
        await repository.insert_access(
            conn,
            personal_id=p["personal_id"],
            purpose="mandates",
            fields=["full_name"],
            caller_kind="citizen",
            caller_id=citizen.subject,
            caller_unit=None,
            via_service=citizen.client_id or "motcua-app",
            on_behalf_via=p.pop("_via"),
            dossier_ref=None,
        )
    organisations = [dict(r) for r in await repository.organisations_of(conn, me, on)]
    return {"people": people, "organisations": organisations}


# --- corrections ---


async def record_correction(conn: asyncpg.Connection, data: RegistryCorrectionRequested, event_id: str) -> bool:
    """Store a correction request (status ``open``) for the registry's staff; a repeated request is ignored."""
    return await repository.insert_correction(
        conn,
        correction_id=data.correction_id,
        personal_id=data.personal_id,
        field=data.field,
        registry_value=data.registry_value,
        proposed_value=data.proposed_value,
        note=data.note,
        dossier_id=data.dossier_id,
        dossier_code=data.dossier_code,
        requested_at=data.occurred_at,
        event_id=event_id,
    )


async def warn_if_unseeded(pool: asyncpg.Pool) -> None:
    """Seeding is a separate step (``python -m citizen_id.seed``); an empty registry answers 404 to
    everyone, which is worth a loud hint at start-up."""
    async with pool.acquire() as conn:
        if not await repository.has_citizens(conn):
            log.warning(
                "the citizens table is empty: every lookup will answer 404; "
                "run `python -m citizen_id.seed` to load the demo and synthetic citizens"
            )
