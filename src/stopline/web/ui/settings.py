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
from stopline.services import members, workspaces
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
    changes["custom_keywords"] = _parse_custom(form_str(form, "custom_keywords"))
    confirmations: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        for kind in KINDS:
            text = form_str(form, f"confirm_{lang}_{kind}")
            if text:
                confirmations.setdefault(lang, {})[kind] = text
    changes["confirmations"] = confirmations
    return {k: v for k, v in changes.items() if v != ""}


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
    )


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
        setting = exc.detail.get("setting") or (
            "custom_keywords"
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
        with viewer.reading() as conn:
            policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        inbound_config = optional_service("stopline.services.inbound_config")
        if inbound_config is not None and hasattr(inbound_config, "keyword_config"):
            config = inbound_config.keyword_config(policy)
        else:
            config = module.KeywordConfig.from_settings(
                policy.keyword_sets, list(policy.custom_keywords)
            )
        result = module.classify(text, config, opted_out=opted_out == "on")
        outcome = _explain(result, policy, opted_out == "on")
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


def _explain(result: Any, policy: Policy, opted_out: bool) -> str:
    intent = str(getattr(getattr(result, "intent", None), "value", getattr(result, "intent", "")))
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


# --- members and API keys ---------------------------------------------------------------------


@get("/settings/members", sync_to_thread=True)
def members_page(request: Request, viewer: Viewer) -> Response[Any]:
    with viewer.reading() as conn:
        people = members.list_members(conn, viewer.principal)
    return render(
        request,
        viewer,
        "settings_members.html",
        title="Settings · Members",
        nav="settings",
        tab="members",
        people=people,
        editable=viewer.can("admin"),
        error=None,
        email="",
        role="member",
    )


@post("/settings/members", sync_to_thread=True)
def add_member(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    viewer.principal.require("admin")
    email = form_str(form, "email")
    role = form_str(form, "role") or "member"
    password = form.get("password") or ""
    try:
        with viewer.writing() as conn:
            members.add_member(conn, viewer.principal, email, str(password), role)
    except Forbidden:
        raise
    except StoplineError as exc:
        with viewer.reading() as conn:
            people = members.list_members(conn, viewer.principal)
        return render(
            request,
            viewer,
            "settings_members.html",
            status=422,
            title="Settings · Members",
            nav="settings",
            tab="members",
            people=people,
            editable=True,
            error=exc.message,
            email=email,
            role=role,
        )
    return redirect(request, "/settings/members", flash=f"Added {email} as {role}.")


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
        messaging,
        save_messaging,
        keyword_test,
        members_page,
        add_member,
        change_role,
        remove_member,
        keys_page,
        create_key,
        revoke_key,
    )
]
