"""Review queue, audit log (with chain verification) and the dashboard's charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.domain.numbers import normalize
from stopline.services import (
    audit,
    dashboard,
    evidence,
    ledger,
    preferences,
    provider_sync,
    review,
    workspaces,
)
from stopline.store.tables import ACTIONS
from stopline.web.deps import runtime_of
from stopline.web.ui.kit import (
    Viewer,
    form_str,
    redirect,
    render,
    safe_next,
    ui_router,
)

PAGE_SIZE = 50
METHODS = ("reply", "manual", "link", "import", "api", "carrier")
METHOD_COLORS = {
    "reply": "#1f5fbf",
    "manual": "#f26b5b",
    "link": "#2e9e6b",
    "import": "#8a5cd1",
    "api": "#d99a00",
    "carrier": "#5b6576",
}
ACTION_LABELS = {
    "opt_out": "Opt-out",
    "opt_in": "Opt-in",
    "block": "Block",
    "unblock": "Unblock",
    "list_opt_out": "List opt-out",
    "list_opt_in": "List opt-in",
    "amend": "Reason changed",
    "retract": "Retracted",
    "list_subscribe": "Added to list",
    "list_unsubscribe": "Removed from list",
}


# --- review queue ------------------------------------------------------------------------------


@get("/review", sync_to_thread=True)
def review_page(
    request: Request,
    viewer: Viewer,
    status: str = Parameter(default="pending", query="status"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    if status not in review.STATUSES:
        status = "pending"
    with viewer.reading() as conn:
        items, total = review.list_review_items(
            conn,
            viewer.workspace_id,
            status=status,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        overdue = review.overdue_count(conn, viewer.workspace_id)
    return render(
        request,
        viewer,
        "review.html",
        title="Review queue",
        nav="review",
        items=items,
        total=total,
        review_status=status,
        overdue=overdue,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        params={"status": status},
    )


@post("/review/{item_id:int}", sync_to_thread=True)
def resolve(request: Request, viewer: Viewer, form: FormMultiDict, item_id: int) -> Response[Any]:
    resolution = form_str(form, "resolution")
    back = safe_next(form_str(form, "next"), "/review")
    try:
        with viewer.writing() as conn:
            result = review.resolve_review_item(
                conn, viewer.principal, item_id, resolution, note=form_str(form, "note") or None
            )
    except StoplineError as exc:
        if exc.code == "review_item_not_found":
            raise
        return redirect(request, back, flash=exc.message, kind="error")
    if result.item.status == "opted_out":
        message = f"Opted out {result.item.number}."
        if result.canceled_messages:
            message += f" {result.canceled_messages} queued message(s) cancelled."
    else:
        message = f"Dismissed the message from {result.item.number}; consent unchanged."
    return redirect(request, back, flash=message)


# --- audit log ------------------------------------------------------------------------------


@get("/audit", sync_to_thread=True)
def audit_page(
    request: Request,
    viewer: Viewer,
    number: str = Parameter(default="", query="number"),
    action: str = Parameter(default="", query="action"),
    method: str = Parameter(default="", query="method"),
    actor: str = Parameter(default="", query="actor"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    error = None
    events: list[Any] = []
    total = 0
    try:
        with viewer.reading() as conn:
            found = audit.events(
                conn,
                viewer.workspace_id,
                number=number or None,
                action=action or None,
                method=method or None,
                actor=actor or None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
        events, total = found.events, found.total
    except InvalidInput as exc:
        error = exc.message
    return render(
        request,
        viewer,
        "audit.html",
        title="Audit log",
        nav="audit",
        events=events,
        total=total,
        error=error,
        number=number,
        action=action,
        method=method,
        actor=actor,
        actions=ACTIONS,
        action_labels=ACTION_LABELS,
        methods=METHODS,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        params={"number": number, "action": action, "method": method, "actor": actor},
    )


@get("/audit/verify", sync_to_thread=True)
def verify_page(request: Request, viewer: Viewer) -> Response[Any]:
    with viewer.reading() as conn:
        report = ledger.verify(conn, viewer.workspace_id)
    return render(
        request, viewer, "audit_verify.html", title="Verify the ledger", nav="audit", report=report
    )


@get("/audit/numbers/{number:str}", sync_to_thread=True)
def number_history(request: Request, viewer: Viewer, number: str) -> Response[Any]:
    with viewer.reading() as conn:
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        e164 = normalize(number, policy.default_region)
        events = ledger.history(conn, viewer.workspace_id, e164)
        prefs = preferences.for_number(conn, viewer.workspace_id, e164, policy)
        report = ledger.verify(conn, viewer.workspace_id)
        provider_reports = provider_sync.number_reports(conn, viewer.workspace_id, e164)
    broken = {p.seq for p in report.problems}
    return render(
        request,
        viewer,
        "audit_number.html",
        title=f"History of {e164}",
        nav="audit",
        number=e164,
        events=list(reversed(events)),
        prefs=prefs,
        policy=policy,
        pending_reviews=[],
        report=report,
        broken=broken,
        provider_reports=provider_reports,
        action_labels=ACTION_LABELS,
    )


@get("/audit/numbers/{number:str}/evidence.pdf", sync_to_thread=True)
def evidence_packet(request: Request, viewer: Viewer, number: str) -> Response[Any]:
    """The number's evidence packet as a PDF (the contact and Opt-Outs pages link here)."""
    from stopline.web.api.consent_records import pdf_response

    rt = runtime_of(request.app.state)
    with viewer.reading() as conn:
        packet = evidence.packet(conn, viewer.workspace_id, number, rt.keyring)
    return pdf_response(packet)


# --- dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    color: str
    label: str


def _daily_chart(daily: dashboard.DailyOptOuts) -> dict[str, Any]:
    """Stacked bars, one per day, as plain SVG geometry the template draws."""
    width, height, left, bottom, top = 720, 220, 34, 24, 10
    plot_h = height - bottom - top
    n = len(daily.days)
    step = (width - left - 8) / max(1, n)
    peak = max(1, daily.peak)
    nice = peak if peak <= 5 else ((peak + 4) // 5) * 5
    bars: list[Bar] = []
    for i, day in enumerate(daily.days):
        y: float = top + plot_h
        for method in METHODS:
            count = daily.by_method[method][i]
            if not count:
                continue
            h = plot_h * count / nice
            y -= h
            bars.append(
                Bar(
                    left + i * step + 1,
                    y,
                    h,
                    METHOD_COLORS[method],
                    f"{day:%b %-d}: {count} by {method}",
                )
            )
    ticks = [(top + plot_h - plot_h * v / nice, v) for v in sorted({0, nice // 2, nice})]
    labels = [
        (left + i * step + step / 2, f"{d:%b %-d}")
        for i, d in enumerate(daily.days)
        if i % 7 == 0 or (i == n - 1 and i % 7 >= 3)
    ]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "bar_width": max(1.0, step - 2),
        "ticks": ticks,
        "labels": labels,
        "left": left,
        "base": top + plot_h,
    }


def _rate_chart(rates: list[dashboard.CampaignRate], threshold: float) -> dict[str, Any]:
    width, row_h, left = 720, 28, 200
    top = 8
    height = top + row_h * max(1, len(rates)) + 24
    peak: float = max([r.rate for r in rates] + [threshold * 1.5, 0.01])
    scale = (width - left - 60) / peak
    rows = [
        {
            "y": top + i * row_h,
            "w": max(1.0, r.rate * scale) if r.recipients else 0,
            "rate": r,
            "name": r.name if len(r.name) <= 28 else r.name[:27] + "…",
        }
        for i, r in enumerate(rates)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "rows": rows,
        "row_h": row_h,
        "threshold_x": left + threshold * scale,
        "top": top,
    }


@get("/dashboard", sync_to_thread=True)
def dashboard_page(request: Request, viewer: Viewer) -> Response[Any]:
    with viewer.reading() as conn:
        data = dashboard.dashboard(conn, viewer.workspace_id)
        pending = review.list_review_items(conn, viewer.workspace_id, limit=1)[1]
        overdue = review.overdue_count(conn, viewer.workspace_id)
    return render(
        request,
        viewer,
        "dashboard.html",
        title="Dashboard",
        nav="dashboard",
        data=data,
        daily=_daily_chart(data.daily),
        rates=_rate_chart(data.campaigns, data.threshold),
        colors=METHOD_COLORS,
        methods=METHODS,
        pending=pending,
        overdue=overdue,
    )


ROUTES = [
    ui_router(
        review_page,
        resolve,
        audit_page,
        verify_page,
        number_history,
        evidence_packet,
        dashboard_page,
    )
]
