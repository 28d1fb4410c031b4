"""The versioned catalogue: procedure versions as data (``motcua_common.procedures.ProcedureDefinition``).

- **Shipped versions**: one JSON file per version in ``intake/catalogue/`` (``<code>.v<version>.json``), loaded by
  ``make migrate`` (:func:`load_catalogue`): a version not yet stored is inserted and announced, a row seeded by
  migration 0002 without a definition is given its shipped one, an identical one is left alone, and a stored
  version whose definition differs from its file stops the load (nothing is changed: a published version is never
  rewritten; publish a new version instead). Intake refuses to start until every shipped version is stored as
  shipped (:func:`check_shipped`).
- **Published versions**: a provincial operator publishes version n+1 through the API (:func:`publish`), in force
  from a date that is not in the past; the earlier versions' windows end the day before.
- Every version is announced once, in the transaction that stores it: ``procedure.version_published`` on the
  catalogue topic (key = procedure code, CloudEvents ``sequence`` = version).
- The version a dossier is received under is the one in force on its receipt date (:func:`in_force`).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from motcua_common.auth import Principal, forbidden
from motcua_common.contracts import ProcedureVersionPublished
from motcua_common.db import SchemaNotReady
from motcua_common.outbox import enqueue
from motcua_common.pagination import decode_cursor, encode_cursor
from motcua_common.problems import FieldError, ProblemError
from motcua_common.procedures import ProcedureDefinition

from . import repository
from .domain import EVENT_SOURCE, definition_problems, inter_agency_levels, processing_days, publish_refusal
from .schemas import ProcedureDraft, ProcedureVersion, ProcedureVersionPage, UnitRef

FILE_NAME = re.compile(r"^(?P<code>.+)\.v(?P<version>[0-9]+)\.json$")
SHIPPED_BY = "catalogue-file"


class CatalogueError(RuntimeError):
    """The shipped catalogue cannot be loaded: a file is invalid, or differs from the version already stored."""


# --- Reading the shipped files ----------------------------------------------------------------------------------


def read_shipped(directory: Path) -> list[ProcedureDefinition]:
    """Every shipped definition, validated: its file is named after its code and version, its budgets add up, and
    each code's versions are 1, 2, … without a gap. Members of bundles come before the bundles."""
    definitions, problems = [], []
    for path in sorted(directory.glob("*.json")):
        try:
            definition = ProcedureDefinition.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        match = FILE_NAME.match(path.name)
        if match is None or (match["code"], int(match["version"])) != (definition.code, definition.version):
            problems.append(f"{path.name}: name it {definition.code}.v{definition.version}.json")
        definitions.append(definition)
    versions: dict[str, list[int]] = {}
    for d in definitions:
        versions.setdefault(d.code, []).append(d.version)
    problems += [
        f"{code}: shipped versions {sorted(v)} are not 1..n"
        for code, v in versions.items()
        if sorted(v) != list(range(1, len(v) + 1))
    ]
    latest = {d.code: d for d in sorted(definitions, key=lambda d: d.version)}
    for d in definitions:
        problems += [f"{d.code}.v{d.version}: {p}" for p in definition_problems(d, dict(latest))]
    if problems:
        raise CatalogueError("the shipped catalogue is invalid:\n  " + "\n  ".join(problems))
    return sorted(definitions, key=lambda d: (d.bundle is not None, d.code, d.version))


def _same(stored: Any, definition: ProcedureDefinition) -> bool:
    return ProcedureDefinition.model_validate(stored).model_dump(mode="json") == definition.model_dump(mode="json")


# --- Storing and announcing a version ---------------------------------------------------------------------------


def _row(definition: ProcedureDefinition, unit_code: str, *, published_by: str, source: str) -> dict[str, Any]:
    """A version's row: the definition whole, and the columns the catalogue lists and filters on."""
    return {
        "code": definition.code,
        "version": definition.version,
        "name": definition.name,
        "field": definition.field,
        "level": definition.level,
        "unit_code": unit_code,
        "processing_days": processing_days(definition.budget),
        "fee_vnd": definition.fee.amount_vnd,
        "fee_online_vnd": definition.fee.online_amount_vnd,
        "fee_note": definition.fee.note,
        "online_level": definition.online_level,
        "components": [c.model_dump(mode="json") for c in definition.components],
        "legal_basis": definition.legal_basis,
        "effective_from": definition.effective_from,
        "effective_to": definition.effective_to,
        "definition": definition.model_dump(mode="json"),
        "published_by": published_by,
        "source": source,
    }


async def _announce(conn: asyncpg.Connection, definition: ProcedureDefinition, published_at: Any, topic: str) -> None:
    event = ProcedureVersionPublished(**definition.model_dump(), published_at=published_at)
    event.in_sequence(definition.version)  # a code's versions are its events 1, 2, 3…
    await enqueue(conn, event, topic=topic, key=definition.code, source=EVENT_SOURCE, subject=definition.code)


async def _unit_problems(conn: asyncpg.Connection, definition: ProcedureDefinition, unit: Any) -> list[str]:
    """The competent unit must be of the definition's level, and every inter-agency step must find a unit of its
    level in the competent unit's area."""
    problems = []
    if unit["level"] != definition.level:
        problems.append(f"level: the competent unit {unit['code']} is a {unit['level']} unit, not {definition.level}")
    for level in inter_agency_levels(definition):
        if await repository.unit_in_area(conn, level, unit["province_code"], unit["ward_code"]) is None:
            problems.append(f"steps: no {level} unit in the area of {unit['code']} for the inter-agency steps")
    return problems


async def performer_units(conn: asyncpg.Connection, definition: ProcedureDefinition, unit: Any) -> dict[str, UnitRef]:
    """The unit of each inter-agency performer level of the definition, for a dossier of competent unit ``unit``."""
    found = {}
    for level in inter_agency_levels(definition):
        row = await repository.unit_in_area(conn, level, unit["province_code"], unit["ward_code"])
        if row is not None:
            found[level] = UnitRef(code=row["code"], name=row["name"])
    return found


async def _store(
    conn: asyncpg.Connection, definition: ProcedureDefinition, unit_code: str, *, by: str, source: str, topic: str
) -> None:
    published_at = await repository.insert_procedure_version(
        conn, _row(definition, unit_code, published_by=by, source=source)
    )
    await repository.close_earlier_versions(conn, definition.code, definition.version, definition.effective_from)
    await _announce(conn, definition, published_at, topic)


async def load_shipped(conn: asyncpg.Connection, definitions: list[ProcedureDefinition], *, topic: str) -> list[str]:
    """Store the shipped versions not stored yet and announce each (in the caller's transaction). Returns what was
    done, one line per version stored or filled; raises :class:`CatalogueError`, changing nothing, if a stored
    version differs from its file or a file cannot be stored."""
    done, problems = [], []
    for definition in definitions:
        name = f"{definition.code}.v{definition.version}"
        await repository.lock_procedure_code(conn, definition.code)
        stored = await repository.get_procedure_version(conn, definition.code, definition.version)
        if stored is not None and stored["definition"] is not None:
            if not _same(stored["definition"], definition):
                problems.append(
                    f"{name}: the stored version differs from services/intake/intake/catalogue/{name}.json "
                    f"(stored from {stored['source']} at {stored['published_at']:%Y-%m-%d %H:%M}); a published "
                    "version is never changed: restore the file and ship the change as the next version"
                )
            continue
        unit = await repository.assigned_unit(conn, definition.code)
        if unit is None:
            problems.append(f"{name}: no competent unit assigned (procedure_units) for {definition.code}")
            continue
        if unit_problems := await _unit_problems(conn, definition, unit):
            problems += [f"{name}: {p}" for p in unit_problems]
            continue
        if stored is None:
            await _store(conn, definition, unit["code"], by=SHIPPED_BY, source="shipped", topic=topic)
            done.append(f"{name} stored")
        else:  # seeded by migration 0002 before definitions existed
            row = _row(definition, unit["code"], published_by=SHIPPED_BY, source="shipped")
            published_at = await repository.fill_seeded_version(conn, row)
            await repository.close_earlier_versions(
                conn, definition.code, definition.version, definition.effective_from
            )
            await _announce(conn, definition, published_at, topic)
            done.append(f"{name} filled in (seeded before definitions)")
    if problems:
        raise CatalogueError("the shipped catalogue cannot be loaded:\n  " + "\n  ".join(problems))
    return done


async def check_shipped(pool: asyncpg.Pool, definitions: list[ProcedureDefinition]) -> None:
    """Refuse to start (:class:`SchemaNotReady`) unless every shipped version is stored as shipped."""
    problems = []
    async with pool.acquire() as conn:
        for d in definitions:
            stored = await repository.get_procedure_version(conn, d.code, d.version)
            if stored is None or stored["definition"] is None:
                problems.append(f"{d.code}.v{d.version} is not loaded")
            elif not _same(stored["definition"], d):
                problems.append(f"{d.code}.v{d.version} differs from its file")
    if problems:
        raise SchemaNotReady(
            "the shipped procedure catalogue is not loaded as shipped: "
            + "; ".join(problems)
            + ". Run `make migrate` (scripts/migrate.py loads services/intake/intake/catalogue/)."
        )


async def load_catalogue(dsn: str, *, topic: str, directory: Path) -> list[str]:
    """`make migrate`'s step for intake after its migrations (also used by the tests' database set-up)."""
    definitions = read_shipped(directory)
    conn = await asyncpg.connect(dsn)
    try:
        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        async with conn.transaction():
            return await load_shipped(conn, definitions, topic=topic)
    finally:
        await conn.close()


# --- Reading versions -------------------------------------------------------------------------------------------


def _in_window(row: Any, day: date) -> bool:
    return (
        row["definition"] is not None
        and row["effective_from"] <= day
        and (row["effective_to"] is None or day <= row["effective_to"])
    )


def version_out(row: Any, today: date) -> ProcedureVersion:
    return ProcedureVersion(
        code=row["code"],
        version=row["version"],
        name=row["name"],
        unit=UnitRef(code=row["unit_code"], name=row["unit_name"]),
        effective_from=row["effective_from"],
        effective_to=row["effective_to"],
        in_force=_in_window(row, today),
        published_at=row["published_at"],
        source=row["source"],
        definition=ProcedureDefinition.model_validate(row["definition"]),
    )


def _not_found(code: str, version: int | None = None) -> ProblemError:
    what = f"version {version} of procedure {code!r}" if version is not None else f"procedure {code!r}"
    return ProblemError(404, "procedure-not-found", "Không tìm thấy thủ tục hành chính", f"No {what} in the catalogue.")


async def list_versions(
    conn: asyncpg.Connection, code: str, *, cursor: str | None, limit: int, today: date
) -> ProcedureVersionPage:
    after = int(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await repository.list_procedure_versions(conn, code, after=after, limit=limit + 1)
    if not rows and after is None:
        raise _not_found(code)
    items = [version_out(r, today) for r in rows[:limit]]
    more = len(rows) > limit
    return ProcedureVersionPage(items=items, next_cursor=encode_cursor(items[-1].version) if more else None)


async def get_version(conn: asyncpg.Connection, code: str, version: int, today: date) -> ProcedureVersion:
    row = await repository.get_procedure_version(conn, code, version)
    if row is None or row["definition"] is None:
        raise _not_found(code, version)
    return version_out(row, today)


@dataclass(frozen=True)
class InForce:
    """A procedure's version in force on a day: its stored row (with its unit), its definition and that definition
    as JSON (what a dossier keeps as its snapshot; shared, never to be modified)."""

    row: Mapping[str, Any]
    definition: ProcedureDefinition
    snapshot: dict[str, Any]


# Validated definitions by (code, version, published_at): a stored version's definition is never rewritten, so a
# submission does not decode and validate 2-3 kB of JSON each time (issue 7's profile: ~3% of intake). The
# publication time is in the key so that a database rebuilt with other definitions under the same numbers (tests,
# a restored backup) is never answered from the cache. Bounded: cleared when it reaches _DEFINITIONS_MAX.
_definitions: dict[tuple[str, int, Any], tuple[ProcedureDefinition, dict[str, Any]]] = {}
_DEFINITIONS_MAX = 1024


async def version_in_force(conn: asyncpg.Connection, row: Mapping[str, Any]) -> InForce:
    """The version ``row`` names (``code``, ``version``, ``published_at``, its unit's columns), with its validated
    definition."""
    key = (row["code"], row["version"], row["published_at"])
    cached = _definitions.get(key)
    if cached is None:
        stored = await repository.get_definition(conn, row["code"], row["version"])
        definition = ProcedureDefinition.model_validate(stored)
        cached = definition, definition.model_dump(mode="json")
        if len(_definitions) >= _DEFINITIONS_MAX:
            _definitions.clear()
        _definitions[key] = cached
    return InForce(row, *cached)


async def in_force(conn: asyncpg.Connection, code: str, day: date) -> InForce | None:
    row = await repository.get_version_in_force(conn, code, day)
    return None if row is None else await version_in_force(conn, row)


# --- Publishing ---------------------------------------------------------------------------------------------------


def _invalid(detail: str, errors: list[FieldError]) -> ProblemError:
    return ProblemError(
        422, "invalid-procedure-definition", "Định nghĩa thủ tục hành chính không hợp lệ", detail, errors
    )


async def publish(
    conn: asyncpg.Connection,
    principal: Principal,
    code: str,
    draft: ProcedureDraft,
    *,
    unit_code: str | None,
    topic: str,
    today: date,
) -> tuple[ProcedureVersion, bool]:
    """Publish the next version of ``code`` (in the caller's transaction, with its event). Returns the version and
    whether it is new: the same definition as the latest version again returns that version (a retried request
    publishes nothing twice)."""
    refusal = publish_refusal(principal)
    if refusal is not None:
        raise forbidden(refusal)
    if draft.code is not None and draft.code != code:
        raise _invalid(
            f"The body's code {draft.code!r} is not the path's {code!r}.",
            [FieldError(field="code", message="must equal the procedure code in the path")],
        )
    await repository.lock_procedure_code(conn, code)
    latest = await repository.latest_version(conn, code)
    fields = draft.model_dump(exclude={"code", "version"})
    if latest is not None and latest["definition"] is not None:
        same = ProcedureDefinition.model_validate({**fields, "code": code, "version": latest["version"]})
        if unit_code in (None, latest["unit_code"]) and _same(latest["definition"], same):
            return version_out(latest, today), False
    definition = ProcedureDefinition.model_validate(
        {**fields, "code": code, "version": latest["version"] + 1 if latest is not None else 1}
    )
    errors = []
    if definition.effective_from < today:
        errors.append(FieldError(field="effective_from", message=f"in the past (today is {today.isoformat()})"))
    if latest is not None and definition.effective_from < latest["effective_from"]:
        errors.append(
            FieldError(
                field="effective_from",
                message=f"before version {latest['version']}'s ({latest['effective_from'].isoformat()})",
            )
        )
    members = definition.bundle.members if definition.bundle is not None else ()
    known = {
        c: ProcedureDefinition.model_validate(d)
        for c, d in (await repository.latest_definitions(conn, list(members))).items()
    }
    for problem in definition_problems(definition, dict.fromkeys(members) | known):
        where, _, message = problem.partition(": ")
        errors.append(FieldError(field=where, message=message))
    unit = await _publish_unit(conn, code, unit_code, latest)
    for problem in await _unit_problems(conn, definition, unit):
        where, _, message = problem.partition(": ")
        errors.append(FieldError(field=where, message=message))
    if errors:
        raise _invalid("The definition is well formed but the catalogue cannot publish it.", errors)
    if unit_code is not None:
        await repository.assign_unit(conn, code, unit["code"])
    await _store(conn, definition, unit["code"], by=principal.subject, source="operator", topic=topic)
    stored = await repository.get_procedure_version(conn, code, definition.version)
    return version_out(stored, today), True


async def _publish_unit(conn: asyncpg.Connection, code: str, unit_code: str | None, latest: Any) -> Any:
    """The competent unit of a new version: the one named, else the province's assignment."""
    if unit_code is not None:
        unit = await repository.get_unit(conn, unit_code)
        if unit is None:
            raise _invalid(f"No unit {unit_code!r}.", [FieldError(field="unit_code", message="unknown unit")])
        return unit
    unit = await repository.assigned_unit(conn, code)
    if unit is None:
        raise _invalid(
            f"Procedure {code!r} has no competent unit yet: name one with the unit_code parameter.",
            [FieldError(field="unit_code", message="required for a procedure new to the catalogue")],
        )
    return unit
