"""JSON API: campaigns to lists (create, preview the audience, follow, cancel)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import Parameter

from stopline.services import campaigns
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class CreateCampaign:
    name: str
    body: str
    list_ids: list[int] = field(default_factory=list)
    channel_id: int | None = None  # default: the workspace's only channel
    scheduled_at: datetime | None = None


@dataclass
class PreviewAudience:
    list_ids: list[int] = field(default_factory=list)
    channel_id: int | None = None


@post("/api/v1/campaigns", tags=["campaigns"], sync_to_thread=True, status_code=201)
def create_campaign(request: Request, principal: Principal, data: CreateCampaign) -> dict[str, Any]:
    """Queue a campaign. A worker stores one message per subscribed member (those opted out,
    blocked or off the list are recorded as `failed` with their reason) and sends them; each
    is checked against the gate again when it goes."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        campaign = campaigns.create_campaign(
            conn,
            principal,
            name=data.name,
            body=data.body,
            list_ids=data.list_ids,
            channel_id=data.channel_id,
            scheduled_at=data.scheduled_at,
        )
    return campaign.as_dict()


@post("/api/v1/campaigns/preview", tags=["campaigns"], sync_to_thread=True, status_code=200)
def preview_campaign(
    request: Request, principal: Principal, data: PreviewAudience
) -> dict[str, Any]:
    """How many members a campaign to these lists would reach now, and how many each rule
    suppresses (`allowed`, `opted_out`, `blocked`, `list_opted_out`); `send_time`: of the
    allowed, how many go `now`, how many `later` (as their window opens; `last_at` the last
    one), and how many are `capped` (over a frequency cap in the last 24 hours)."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        return campaigns.preview_audience(
            conn, principal.workspace_id, list_ids=data.list_ids, channel_id=data.channel_id
        )


@get("/api/v1/campaigns", tags=["campaigns"], sync_to_thread=True)
def list_campaigns(
    request: Request,
    principal: Principal,
    limit: int = Parameter(default=50, query="limit", ge=1, le=500),
    offset: int = Parameter(default=0, query="offset", ge=0),
) -> dict[str, Any]:
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        found = campaigns.list_campaigns(conn, principal.workspace_id, limit=limit, offset=offset)
    return {"campaigns": [c.as_dict() for c in found]}


@get("/api/v1/campaigns/{campaign_id:int}", tags=["campaigns"], sync_to_thread=True)
def get_campaign(request: Request, principal: Principal, campaign_id: int) -> dict[str, Any]:
    """A campaign with its messages counted by status and by refusal reason."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        return campaigns.get_campaign(conn, principal.workspace_id, campaign_id).as_dict()


@post(
    "/api/v1/campaigns/{campaign_id:int}/cancel",
    tags=["campaigns"],
    sync_to_thread=True,
    status_code=200,
)
def cancel_campaign(request: Request, principal: Principal, campaign_id: int) -> dict[str, Any]:
    """Cancel every message of the campaign not yet handed over."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        return campaigns.cancel_campaign(conn, principal, campaign_id).as_dict()


ROUTES = [create_campaign, preview_campaign, list_campaigns, get_campaign, cancel_campaign]
