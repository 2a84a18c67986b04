"""JSON API: consent records in bulk (Twilio's Bulk Upsert Consents shape, 10,000 per request),
a number's consent history, and its evidence report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import Parameter

from stopline.services import consent_api, ledger
from stopline.services import evidence as evidence_service
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class BulkConsents:
    """`items`: up to 10,000 records, each `{"contact_id": "+14155550100", "correlation_id":
    "9f1c...", "status": "opt-in" | "opt-out", "source": "website" | "offline" |
    "opt-in-message" | "opt-out-message" | "others"}` with optional `sender_id` (a channel's
    number or service id), `date_of_consent` (ISO 8601 with zone), `consent_note`, `reason`,
    and for opt-ins `evidence`: `{"consent_text" (<= 2000 chars) or "consent_version",
    "captured_at" (ISO 8601 with zone), "ip", "user_agent", "reference_url" (http(s)),
    "source"}`; an opt-in without it is recorded as such and shown as weaker."""

    items: list[dict[str, Any]] = field(default_factory=list)


@post(
    "/api/v1/consents/bulk",
    tags=["consents"],
    sync_to_thread=True,
    status_code=200,
    request_max_body_size=consent_api.MAX_BODY_BYTES,
    operation_id="consents_upsert",
)
def upsert(request: Request, principal: Principal, data: BulkConsents) -> dict[str, Any]:
    """Record up to 10,000 consent records (each as `ConsentRecord`) in one transaction. Each
    item is answered by its `correlation_id` with `success`, or `error_code` and
    `error_messages` (a bad item fails alone). Sending a record again changes nothing."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        results = consent_api.upsert(conn, principal, data.items)
    items = [r.as_dict() for r in results]
    return {
        "items": items,
        "summary": {
            "received": len(items),
            "succeeded": sum(1 for r in results if r.success),
            "failed": sum(1 for r in results if not r.success),
            "changed": sum(1 for r in results if r.changed),
        },
    }


@get(
    "/api/v1/consents/{number:str}",
    tags=["consents"],
    sync_to_thread=True,
    operation_id="consents_history",
)
def history(request: Request, principal: Principal, number: str) -> dict[str, Any]:
    """Every consent event of a number, oldest first."""
    from stopline.services import provider_sync

    with read(runtime_of(request.app.state).engine) as conn:
        e164, events = consent_api.history(conn, principal.workspace_id, number)
        dicts = provider_sync.with_reports(
            conn, principal.workspace_id, e164, [ledger.event_dict(e) for e in events]
        )
    return {"number": e164, "events": dicts}


@get(
    "/api/v1/consents/{number:str}/evidence",
    tags=["consents"],
    sync_to_thread=True,
    operation_id="consents_evidence",
)
def evidence(
    request: Request,
    principal: Principal,
    number: str,
    full_chain: bool = Parameter(default=False, query="full_chain"),
) -> dict[str, Any]:
    """The number's state and every event with its hash, each re-hashed and checked against its
    neighbours in the chain (`verified`); `full_chain=true` also verifies the whole ledger."""
    with read(runtime_of(request.app.state).engine) as conn:
        return consent_api.evidence(conn, principal.workspace_id, number, full_chain=full_chain)


@get(
    "/api/v1/consents/{number:str}/evidence.json",
    tags=["consents"],
    sync_to_thread=True,
    operation_id="consents_evidence_packet_json",
)
def evidence_packet_json(
    request: Request,
    principal: Principal,
    number: str,
    full_chain: bool = Parameter(default=False, query="full_chain"),
) -> dict[str, Any]:
    """The number's evidence packet: every consent event with its opt-in evidence, the messages
    around it, hashes, the whole chain's verification, the signed checkpoint covering each
    event, and how to re-verify it (the formulas and the deployment's public key).
    `full_chain=true` also recomputes the whole ledger's chain (slow for long ledgers)."""
    return _packet(request, principal, number, full_chain)


@get(
    "/api/v1/consents/{number:str}/evidence.pdf",
    tags=["consents"],
    sync_to_thread=True,
    operation_id="consents_evidence_packet_pdf",
    media_type="application/pdf",
)
def evidence_packet_pdf(
    request: Request,
    principal: Principal,
    number: str,
    full_chain: bool = Parameter(default=False, query="full_chain"),
) -> Response[bytes]:
    """The evidence packet as a PDF that stands on its own (`full_chain` as for .json)."""
    return pdf_response(_packet(request, principal, number, full_chain))


def _packet(request: Request, principal: Principal, number: str, full: bool) -> dict[str, Any]:
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        return evidence_service.packet(
            conn, principal.workspace_id, number, rt.keyring, full_chain=full
        )


def pdf_response(packet: dict[str, Any]) -> Response[bytes]:
    from stopline.files.evidence_pdf import render

    name = f"evidence-{packet['number'].lstrip('+')}.pdf"
    return Response(
        render(packet),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [
    Router(
        path="/",
        route_handlers=[upsert, history, evidence, evidence_packet_json, evidence_packet_pdf],
    )
]
