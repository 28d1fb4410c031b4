"""Kafka handlers: results of earlier dossiers land in the citizen's vault."""

import uuid

import asyncpg

from motcua_common.contracts import DossierResultIssued
from motcua_common.events import CloudEvent

from . import repository


async def on_result_issued(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """A dossier intake stored got its result: record it in the vault of the applicant and of the citizen who
    submitted (a parent for a child, an authorized person), so a later dossier can attach it by reference.
    Intake does not hold the result file itself: the vault entry is a reference (kind ``result``, no content)."""
    data = DossierResultIssued.model_validate(event.data)
    row = await repository.get_dossier_by_id(conn, data.dossier_id)
    if row is None:
        return  # a dossier received elsewhere
    owners = []
    if row["applicant_kind"] == "citizen" and row["applicant_subject"]:
        owners.append(row["applicant_subject"])
    if row["submitter_kind"] == "citizen" and row["submitter_subject"] not in owners:
        owners.append(row["submitter_subject"])
    for owner in owners:
        await repository.insert_result(
            conn,
            {
                "id": uuid.uuid4(),
                "owner_subject": owner,
                "doc_type": f"result:{row['procedure_code']}",
                "dossier_id": row["id"],
                "dossier_code": row["code"],
                "result_number": data.result_number,
            },
        )


HANDLERS = {DossierResultIssued.type_name(): on_result_issued}
