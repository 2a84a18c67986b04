"""Settings: Messaging (opt-out scope, keywords, confirmations, policies), members and API keys.

Everyone can read the messaging settings (teams should know what STOP does, seed 002); only
admins can change them, manage members or API keys.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter
from litestar.response import Redirect

from stopline.domain.errors import Forbidden, InvalidInput, StoplineError
from stopline.domain.policy import DEFAULT_CONFIRMATIONS, Policy
from stopline.services import invitations, mail, members, workspaces
from stopline.services.consent import now_utc
from stopline.web.ui.kit import (
    Viewer,
    form_list,
    form_str,
    int_or_none,
    optional_service,
    redirect,
    render,
    ui_router,
)

LANGUAGES = {"en": "English", "fr": "French", "es": "Spanish", "pt": "Portuguese"}
KINDS = {"opt_out": "Opt-out (STOP)", "opt_in": "Opt-in (START)", "help": "Help (HELP)"}
FALLBACK_SETS = {"fr": "French", "es": "Spanish", "pt": "Portuguese"}
INTENTS = ("opt_out", "opt_in", "help")


def keyword_module() -> Any | None:
    return optional_service("stopline.domain.keywords")


def keyword_sets() -> dict[str, str]:
    """Optional keyword sets a workspace can switch on, by name."""
    module = keyword_module()
    available = getattr(module, "available_sets", None)
    names = tuple(available()) if callable(available) else tuple(FALLBACK_SETS)
    return {name: LANGUAGES.get(name, name) for name in names}


def _custom_lines(policy: Policy) -> str:
    lines = []
    for k in policy.custom_keywords:
        parts = [str(k.get("word", "")), str(k.get("intent", "opt_out"))]
        parts.append(str(k.get("mode", "whole")))
        if k.get("language") and k.get("language") != "en":
            parts.append(str(k["language"]))
        lines.append(", ".join(parts))
    return "\n".join(lines)


def _parse_custom(text: str) -> list[dict[str, str]]:
    """One keyword per line: `WORD, intent[, whole|leading[, language]]`."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        word = parts[0]
        intent = (parts[1] if len(parts) > 1 and parts[1] else "opt_out").lower().replace("-", "_")
        if intent not in INTENTS:
            raise InvalidInput(
                f"Custom keyword line {number}: the intent must be opt_out, opt_in or help.",
                code="setting_invalid",
                setting="custom_keywords",
            )
        entry = {"word": word, "intent": intent}
        if len(parts) > 2 and parts[2]:
            mode = parts[2].lower()
            if mode not in ("leading", "whole"):
                raise InvalidInput(
                    f"Custom keyword line {number}: the match must be 'whole' or 'leading'.",
                    code="setting_invalid",
                    setting="custom_keywords",
                )
            entry["mode"] = mode
        if len(parts) > 3 and parts[3]:
            entry["language"] = parts[3].lower()
        out.append(entry)
    return out


def _changes_from(form: FormMultiDict) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "opt_out_scope": form_str(form, "opt_out_scope"),
        "resubscribe_policy": form_str(form, "resubscribe_policy"),
        "revocation_mode": form_str(form, "revocation_mode"),
        "brand_name": form_str(form, "brand_name"),
        "help_contact": form_str(form, "help_contact"),
        "default_region": form_str(form, "default_region"),
        "disclosure_text": form_str(form, "disclosure_text"),
        "time_zone": form_str(form, "time_zone"),
    }
    for flag in (
        "send_confirmations",
        "opt_in_clears_list_opt_outs",
        "any_inbound_opts_in",
        "first_message_disclosure",
    ):
        changes[flag] = form_str(form, flag) == "on"
    days = int_or_none(form_str(form, "review_deadline_business_days"))
    changes["review_deadline_business_days"] = days if days is not None else -1
    try:
        changes["opt_out_rate_warning"] = float(form_str(form, "opt_out_rate_warning")) / 100
    except ValueError:
        raise InvalidInput(
            "The opt-out rate warning must be a percentage, e.g. 2.",
            code="setting_invalid",
            setting="opt_out_rate_warning",
        ) from None
    changes["keyword_sets"] = form_list(form, "keyword_sets")
    if "keep_offer_hours" in form:  # the section is on the page: its checkboxes say it all
        offered = form_list(form, "keep_offer_lists")
        if not all(v.isascii() and v.isdigit() for v in offered):
            raise InvalidInput(
                "Lists to offer are given by their ids.",
                code="setting_invalid",
                setting="keep_offer_lists",
            )
        changes["keep_offer_lists"] = [int(v) for v in offered]
        hours = int_or_none(form_str(form, "keep_offer_hours"))
        changes["keep_offer_hours"] = hours if hours is not None else -1
    changes["custom_keywords"] = _parse_custom(form_str(form, "custom_keywords"))
    confirmations: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        for kind in KINDS:
            text = form_str(form, f"confirm_{lang}_{kind}")
            if text:
                confirmations.setdefault(lang, {})[kind] = text
    changes["confirmations"] = confirmations
    contact = form_str(form, "help_contact")  # may be emptied: then no contact is sent
    return {
        **{k: v for k, v in changes.items() if v != ""},
        **({"help_contact": contact} if "help_contact" in form else {}),
    }


def _messaging_page(
    request: Request,
    viewer: Viewer,
    *,
    policy: Policy | None = None,
    error: str | None = None,
    error_setting: str | None = None,
    custom_text: str | None = None,
    status: int = 200,
) -> Response[Any]:
    with viewer.reading() as conn:
        stored = workspaces.get_workspace(conn, viewer.workspace_id).policy
    policy = policy or stored
    return render(
        request,
        viewer,
        "settings_messaging.html",
        status=status,
        title="Settings · Messaging",
        nav="settings",
        tab="messaging",
        policy=policy,
        error=error,
        error_setting=error_setting,
        custom_text=_custom_lines(policy) if custom_text is None else custom_text,
        languages=LANGUAGES,
        kinds=KINDS,
        defaults=DEFAULT_CONFIRMATIONS,
        sets=keyword_sets(),
        tester=keyword_module() is not None,
        editable=viewer.can("admin"),
        zones=time_zones(),
        keep_lists=keep_list_choices(viewer),
    )


def keep_list_choices(viewer: Viewer) -> list[tuple[int, str, str | None]]:
    """The lists a STOP's confirmation may offer to keep: (id, name, the word to answer with,
    None when the list has no opt-in keyword yet)."""
    from stopline.services.keep_offers import keep_word
    from stopline.store import inbound as inbound_store

    with viewer.reading() as conn:
        rows = inbound_store.keyword_lists(conn, viewer.workspace_id)
    return sorted(((int(r.id), str(r.name), keep_word(r)) for r in rows), key=lambda c: c[1])


def time_zones() -> list[str]:
    """Every IANA zone, UTC first: the choices for the workspace's and a person's clock."""
    import zoneinfo

    names = sorted(
        z
        for z in zoneinfo.available_timezones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/"))
    )
    return ["UTC", *names]


@get("/settings/profile", sync_to_thread=True)
def profile(request: Request, viewer: Viewer) -> Response[Any]:
    return _profile_page(request, viewer)


def _profile_page(
    request: Request, viewer: Viewer, *, error: str | None = None, status: int = 200
) -> Response[Any]:
    with viewer.reading() as conn:
        workspace_zone = workspaces.get_workspace(conn, viewer.workspace_id).policy.time_zone
    return render(
        request,
        viewer,
        "settings_profile.html",
        status=status,
        title="Settings · My profile",
        nav="settings",
        tab="profile",
        zones=time_zones(),
        workspace_zone=workspace_zone,
        own_zone=viewer.session.own_time_zone or "",
        error=error,
        now=now_utc(),
    )


@post("/settings/profile", sync_to_thread=True)
def save_profile(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """A person's own time zone: every time they read is shown in it (else the workspace's)."""
    from stopline.services import sessions

    zone = form_str(form, "time_zone")
    try:
        with viewer.writing() as conn:
            sessions.set_own_time_zone(conn, viewer.session, zone or None)
    except StoplineError as exc:
        return _profile_page(request, viewer, error=exc.message, status=422)
    said = f"Times are now shown in {zone}." if zone else "Times now follow the workspace's zone."
    return redirect(request, "/settings/profile", flash=said)


def _email_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response[Any]:
    from stopline.services import mail

    with viewer.reading() as conn:
        current = mail.workspace_view(conn, viewer.rt.keyring, viewer.workspace_id)
    return render(
        request,
        viewer,
        "settings_email.html",
        status=status,
        title="Settings · Email",
        nav="settings",
        tab="email",
        smtp=current,
        values=values or {},
        error=error,
        editable=viewer.can("admin"),
        tls_modes={
            "starttls": "STARTTLS (port 587)",
            "ssl": "TLS from the start (port 465)",
            "none": "None (only on a trusted network)",
        },
    )


@get("/settings/email", sync_to_thread=True)
def email_page(request: Request, viewer: Viewer) -> Response[Any]:
    return _email_page(request, viewer)


@post("/settings/email", sync_to_thread=True)
def save_email(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """The workspace's SMTP account; the password is write-only (blank keeps the saved one)."""
    from stopline.services import mail

    viewer.principal.require("admin")
    password = form.get("password")
    fields = {k: form_str(form, k) for k in ("host", "port", "tls", "username", "sender")}
    try:
        with viewer.writing() as conn:
            mail.save_workspace_settings(
                conn,
                viewer.rt.keyring,
                viewer.principal,
                host=fields["host"],
                port=fields["port"],
                tls=fields["tls"],
                username=fields["username"],
                password=password if isinstance(password, str) and password else None,
                sender=fields["sender"],
            )
    except Forbidden:
        raise
    except StoplineError as exc:
        return _email_page(request, viewer, error=exc.message, values=fields, status=422)
    said = "Email settings saved." if fields["host"] else "The workspace's SMTP account is removed."
    return redirect(request, "/settings/email", flash=said)


@post("/settings/email/test", sync_to_thread=True)
def test_email(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """Send a test email to the signed-in admin through the settings in force."""
    from stopline.services import mail

    viewer.principal.require("admin")
    try:
        with viewer.reading() as conn:
            settings = mail.require_configured_for(conn, viewer.rt.keyring, viewer.workspace_id)
        mail.send(
            settings,
            viewer.session.email,
            "stopline test email",
            f"This is a test email from stopline for {viewer.session.workspace_name}.\n"
            "If you can read it, exports can email you when they are ready.\n",
        )
    except StoplineError as exc:
        return redirect(request, "/settings/email", flash=exc.message, kind="error")
    return redirect(request, "/settings/email", flash=f"Test email sent to {viewer.session.email}.")


@get("/settings", sync_to_thread=False)
def settings_home() -> Redirect:
    return Redirect("/settings/messaging", status_code=303)


@get("/settings/messaging", sync_to_thread=True)
def messaging(request: Request, viewer: Viewer) -> Response[Any]:
    return _messaging_page(request, viewer)


@post("/settings/messaging", sync_to_thread=True)
def save_messaging(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    viewer.principal.require("admin")
    try:
        changes = _changes_from(form)
        with viewer.writing() as conn:
            workspaces.update_settings(conn, viewer.principal, changes)
    except Forbidden:
        raise
    except StoplineError as exc:
        owner = exc.detail.get("keyword_set")
        setting = exc.detail.get("setting") or (
            "keyword_sets"  # a set switched on would be shadowed by a list keyword
            if exc.code == "keyword_reserved" and owner in ("fr", "es", "pt")
            else "custom_keywords"
            if exc.code.startswith("keyword_") and exc.code != "keyword_set_unknown"
            else "keyword_sets"
            if exc.code == "keyword_set_unknown"
            else ""
        )
        return _messaging_page(
            request,
            viewer,
            error=exc.message,
            error_setting=str(setting),
            custom_text=form_str(form, "custom_keywords"),
            status=422,
        )
    return redirect(request, "/settings/messaging", flash="Messaging settings saved.")


@get("/settings/keyword-test", sync_to_thread=True)
def keyword_test(
    request: Request,
    viewer: Viewer,
    text: str = Parameter(default="", query="text", max_length=1600),
    opted_out: str = Parameter(default="", query="opted_out"),
) -> Response[Any]:
    """If someone texted this, what would happen? The same classifier inbound texts go through."""
    module = keyword_module()
    result = None
    outcome = ""
    intent_label = ""
    if module is not None and text:
        from stopline.services.inbound_config import keyword_config, keywords_of_lists
        from stopline.store.inbound import keyword_lists

        with viewer.reading() as conn:
            policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
            rows = keyword_lists(conn, viewer.workspace_id)
        # The same keywords a real inbound text meets: the workspace's and every list's own.
        result = module.classify(
            text,
            keyword_config(policy),
            opted_out=opted_out == "on",
            list_keywords=keywords_of_lists(rows),
        )
        names = {int(r.id): r.name for r in rows}
        outcome = _explain(result, policy, opted_out == "on", names.get(result.list_id or -1))
        intent = getattr(result.intent, "value", result.intent)
        intent_label = str(intent).replace("_", " ").capitalize()
    template = "_keyword_result.html"
    if request.headers.get("hx-request") != "true":
        return render(
            request,
            viewer,
            "keyword_test.html",
            title="Keyword tester",
            nav="settings",
            text=text,
            opted_out=opted_out == "on",
            result=result,
            outcome=outcome,
            available=module is not None,
            intent_label=intent_label,
        )
    return render(
        request,
        viewer,
        template,
        text=text,
        result=result,
        outcome=outcome,
        available=module is not None,
        intent_label=intent_label,
    )


def _explain(result: Any, policy: Policy, opted_out: bool, list_name: str | None = None) -> str:
    intent = str(getattr(getattr(result, "intent", None), "value", getattr(result, "intent", "")))
    if list_name is not None:
        return _explain_list(intent, list_name, policy)
    scope = {
        "workspace": "from every channel of this workspace",
        "channel_type": "from every channel of the same type",
        "channel": "from the channel they texted",
    }[policy.opt_out_scope.value]
    confirm = " and sent one confirmation text" if policy.send_confirmations else ""
    if intent == "opt_out":
        return f"The number would be opted out {scope} (method Reply){confirm}."
    if intent == "opt_in":
        return f"The number's opt-out would be lifted{confirm}. A blocked number stays blocked."
    if intent == "help":
        return "The workspace's HELP reply would be sent. Consent would not change."
    if intent in ("possible_opt_out", "possible_revocation", "revocation"):
        if policy.revocation_mode.value == "review":
            return (
                "Not a keyword, but it reads like a request to stop: it would go to the review "
                f"queue with a deadline of {policy.review_deadline_business_days} business days."
            )
        return "Not a keyword, but it reads like a request to stop: it would be opted out."
    if intent == "reaction":
        return (
            "A reaction to one of your messages (it quotes your text): kept and shown in the "
            "inbox as a reaction. Consent would not change."
        )
    if policy.any_inbound_opts_in and opted_out:
        return "No keyword. Because 'any inbound message opts in' is on, the number would opt in."
    return "No keyword: the message would simply appear in the inbox. Consent would not change."


def _explain_list(intent: str, list_name: str, policy: Policy) -> str:
    """A list's own keyword acts on that list only (seed 001): say so, not "every channel"."""
    confirm = " and sent that list's confirmation" if policy.send_confirmations else ""
    if intent == "opt_out":
        return (
            f"A keyword of the list “{list_name}”: the number would be opted out of that list "
            f"only{confirm}. Other lists and one-to-one messages are not affected."
        )
    if intent == "opt_in":
        return (
            f"A keyword of the list “{list_name}”: the number's opt-out of that list would be "
            f"lifted{confirm}. A workspace opt-out or a block stays."
        )
    return f"A keyword of the list “{list_name}”: its HELP reply would be sent. Consent unchanged."


# --- members and API keys ---------------------------------------------------------------------


def _members_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    email: str = "",
    role: str = "member",
    invited: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    with viewer.reading() as conn:
        people = members.list_members(conn, viewer.principal)
        open_invitations = (
            invitations.pending(conn, viewer.principal) if viewer.can("admin") else []
        )
    return render(
        request,
        viewer,
        "settings_members.html",
        status=status,
        title="Settings · Members",
        nav="settings",
        tab="members",
        people=people,
        invitations=open_invitations,
        editable=viewer.can("admin"),
        mail_configured=mail_configured(),
        error=error,
        email=email,
        role=role,
        invited=invited,
    )


def mail_configured() -> bool:
    try:
        return mail.SmtpSettings.from_env() is not None
    except StoplineError:
        return False


@get("/settings/members", sync_to_thread=True)
def members_page(request: Request, viewer: Viewer) -> Response[Any]:
    return _members_page(request, viewer)


@post("/settings/members", sync_to_thread=True)
def add_member(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """Invite a person. The answer is the same whether or not the email has an account."""
    viewer.principal.require("admin")
    email = form_str(form, "email")
    role = form_str(form, "role") or "member"
    password = form.get("password") or ""
    try:
        digest = invitations.initial_password_hash(str(password))
        with viewer.writing() as conn:
            issued = invitations.invite(conn, viewer.principal, email, digest, role)
    except Forbidden:
        raise
    except StoplineError as exc:
        return _members_page(request, viewer, error=exc.message, email=email, role=role, status=422)
    base = viewer.rt.config.public_url or str(request.base_url)
    link = issued.url(base)
    note = ""
    if form_str(form, "send_email"):
        try:
            invitations.email_invitation(issued, viewer.session.workspace_name, link)
            note = f"The link was emailed to {issued.email}."
        except StoplineError as exc:
            note = f"The link could not be emailed ({exc.message}); share it yourself."
    # The link is shown in this response only (its token is stored hashed), never redirected.
    return _members_page(
        request,
        viewer,
        invited={"email": issued.email, "role": issued.role, "link": link, "note": note},
    )


@post("/settings/invitations/{invitation_id:int}/revoke", sync_to_thread=True)
def revoke_invitation(request: Request, viewer: Viewer, invitation_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        invitations.revoke(conn, viewer.principal, invitation_id)
    return redirect(request, "/settings/members", flash="Invitation withdrawn.")


@post("/settings/members/{member_id:int}/role", sync_to_thread=True)
def change_role(
    request: Request, viewer: Viewer, form: FormMultiDict, member_id: int
) -> Response[Any]:
    with viewer.writing() as conn:
        members.change_role(conn, viewer.principal, member_id, form_str(form, "role"))
    return redirect(request, "/settings/members", flash="Role changed.")


@post("/settings/members/{member_id:int}/remove", sync_to_thread=True)
def remove_member(request: Request, viewer: Viewer, member_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        members.remove_member(conn, viewer.principal, member_id)
    return redirect(request, "/settings/members", flash="Member removed.")


def _keys_page(
    request: Request,
    viewer: Viewer,
    *,
    new_key: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    with viewer.reading() as conn:
        keys = members.list_api_keys(conn, viewer.principal)
    return render(
        request,
        viewer,
        "settings_keys.html",
        status=status,
        title="Settings · API keys",
        nav="settings",
        tab="keys",
        keys=keys,
        new_key=new_key,
        error=error,
    )


@get("/settings/api-keys", sync_to_thread=True)
def keys_page(request: Request, viewer: Viewer) -> Response[Any]:
    viewer.principal.require("admin")
    return _keys_page(request, viewer)


@post("/settings/api-keys", sync_to_thread=True)
def create_key(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    viewer.principal.require("admin")
    try:
        with viewer.writing() as conn:
            key = members.create_api_key(
                conn, viewer.principal, form_str(form, "name"), form_str(form, "role") or "admin"
            )
    except Forbidden:
        raise
    except StoplineError as exc:
        return _keys_page(request, viewer, error=exc.message, status=422)
    # Shown once, in this response only; never stored in clear, never redirected through a URL.
    return _keys_page(request, viewer, new_key=key)


@post("/settings/api-keys/{key_id:int}/revoke", sync_to_thread=True)
def revoke_key(request: Request, viewer: Viewer, key_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        members.revoke_api_key(conn, viewer.principal, key_id)
    return redirect(
        request,
        "/settings/api-keys",
        flash="Key revoked. Apps using it can no longer call the API.",
    )


ROUTES = [
    ui_router(
        settings_home,
        email_page,
        save_email,
        test_email,
        profile,
        save_profile,
        messaging,
        save_messaging,
        keyword_test,
        members_page,
        add_member,
        revoke_invitation,
        change_role,
        remove_member,
        keys_page,
        create_key,
        revoke_key,
    )
]
