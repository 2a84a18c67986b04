"""The invitation link's page: the signed-in person sees the offer and accepts it, or not."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from stopline.services import invitations, sessions
from stopline.web.ui.kit import Viewer, redirect, render, ui_router


@get("/invitations/{token:str}", sync_to_thread=True)
def show(request: Request, viewer: Viewer, token: str) -> Response[Any]:
    with viewer.reading() as conn:
        offer = invitations.view(conn, token, viewer.session.email)
    return render(
        request,
        viewer,
        "invitation.html",
        title=f"Join {offer.workspace_name}",
        offer=offer,
        token=token,
        member_already=any(
            m.workspace_id == offer.workspace_id for m in viewer.session.memberships
        ),
    )


@post("/invitations/{token:str}", sync_to_thread=True)
def accept(request: Request, viewer: Viewer, token: str) -> Response[Any]:
    with viewer.writing() as conn:
        name = sessions.join_by_invitation(conn, viewer.session, token)
    return redirect(request, "/inbox", flash=f"You joined {name}.")


ROUTES = [ui_router(show, accept)]
