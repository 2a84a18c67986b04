"""Core commands: init, classify, numbers, check, block/unblock, channels, serve."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stopline.cli.main import (
    JsonOpt,
    WorkspaceOpt,
    app,
    console,
    emit,
    fail,
    operator,
    reading,
    runtime,
    table,
    writing,
)
from stopline.domain import numbers
from stopline.services import optouts, workspaces

numbers_app = typer.Typer(help="Phone number tools.", no_args_is_help=True)
channels_app = typer.Typer(
    help="Sending identities (numbers, short codes, services).", no_args_is_help=True
)
app.add_typer(numbers_app, name="numbers")
app.add_typer(channels_app, name="channels")


@app.command()
def init(
    name: Annotated[str, typer.Option(help="Workspace (business) name.")] = "My Business",
    email: Annotated[str, typer.Option(help="Owner's email (sign-in).")] = "owner@example.com",
    password: Annotated[
        str | None, typer.Option(help="Owner's password (default: generated and printed).")
    ] = None,
    region: Annotated[
        str, typer.Option(help="Default region for numbers without +country.")
    ] = "US",
    timezone: Annotated[
        str,
        typer.Option(
            "--timezone", help="The workspace's time zone for people, e.g. America/New_York."
        ),
    ] = "UTC",
    as_json: JsonOpt = False,
) -> None:
    """Create the database (if needed), a workspace, its owner and an API key; print them."""
    import secrets

    clear_password = password or secrets.token_urlsafe(12)
    with writing() as conn:
        created = workspaces.create_workspace(
            conn,
            name=name,
            owner_email=email,
            owner_password=clear_password,
            region=region,
            time_zone=timezone,
        )
    data = {
        "workspace": created.workspace.slug,
        "workspace_id": created.workspace.id,
        "time_zone": created.workspace.policy.time_zone,
        "owner_email": created.owner_email,
        "owner_password": clear_password if password is None else None,
        "api_key": created.api_key,
        "account_sid": created.workspace.account_sid,
        "auth_token": created.auth_token,
        "database_url": runtime().config.database_url,
    }
    emit(
        data,
        as_json,
        lambda: table(
            ["", ""],
            [[k, v] for k, v in data.items() if v is not None],
            title="Workspace created: keep these, the secrets are shown only once",
        ),
    )


@app.command("password-reset")
def password_reset(
    email: Annotated[str, typer.Argument(help="The email the person signs in with.")],
    password: Annotated[
        str | None, typer.Option(help="The new password (default: generated and printed).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a new sign-in password for EMAIL (from the host: there is no email reset); ends their sessions."""
    import secrets

    from stopline.services import sessions

    clear_password = password or secrets.token_urlsafe(12)
    with writing() as conn:
        sessions.reset_password(conn, email, clear_password)
    data = {
        "email": email.strip().lower(),
        "password": clear_password if password is None else None,
    }
    emit(
        data,
        as_json,
        lambda: console.print(
            f"New password for {data['email']}"
            + (f": {clear_password}" if password is None else " set")
            + ". Their open sessions were signed out.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        ),
    )


@app.command()
def classify(
    text: Annotated[str | None, typer.Argument(help="An inbound text message.")] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="Classify every message of FILE ('-': standard input), one JSON object a line.",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, lines (one message a line), csv or jsonl.")
    ] = "auto",
    column: Annotated[
        str | None,
        typer.Option(help="CSV/JSONL column holding the text (default: text, body, ...)."),
    ] = None,
    opted_out: Annotated[
        bool, typer.Option(help="Classify as if the sender is opted out.")
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What would stopline do if someone texted TEXT (or each message of --file)?

    The outcome is what the inbound pipeline would do: opt_out, review (a possible revocation,
    with its rule), opt_in, help or none, with the workspace's keywords and revocation setting.
    """
    from stopline.services.classification import classifier_for

    policy = None
    try:
        with reading() as conn:
            policy = workspaces.resolve_workspace(conn, workspace).policy
    except Exception:  # noqa: BLE001 - with no workspace, the default keyword sets apply
        if workspace:
            raise
    classifier = classifier_for(policy)
    if file is not None:
        if text is not None:
            fail("Give a TEXT or --file, not both.", "arguments_invalid", as_json)
        _classify_file(classifier, file, fmt, column, opted_out, as_json)
        return
    if text is None:
        fail("Give a TEXT to classify, or --file FILE.", "arguments_invalid", as_json)
        return
    from stopline.domain.keywords import classify as classify_text

    result = classify_text(text, classifier.config, opted_out=opted_out)
    data = {
        **classifier(text, opted_out=opted_out),
        "keyword_set": result.keyword_set,
        "match": result.match,
        "phrase": result.phrase,
    }
    human = f"{result.intent.value}"
    if result.keyword:
        human += (
            f" (keyword {result.keyword}, set {result.keyword_set}, language {result.language})"
        )
    if result.phrase:
        human += f" (rule: {result.phrase}, language {result.language})"
    human += f" -> {data['outcome']}"
    emit(data, as_json, human)


def _classify_file(
    classifier: Any, file: str, fmt: str, column: str | None, opted_out: bool, as_json: bool
) -> None:
    """JSON Lines out, streamed and written in blocks: a year of replies in seconds."""
    import sys

    from stopline.domain.errors import StoplineError
    from stopline.files.texts import read_texts

    try:
        stream = sys.stdin if file == "-" else open(file, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        fail(f"Cannot read {file}: {exc.strerror}.", "file_unreadable", as_json)
        return
    out: list[str] = []
    try:
        with stream:
            for number, text in read_texts(stream, fmt, column, name=file):
                out.append(classifier.json_line(text, number, opted_out=opted_out))
                if len(out) >= 4096:
                    sys.stdout.write("\n".join(out) + "\n")
                    out.clear()
    except StoplineError as exc:
        if out:
            sys.stdout.write("\n".join(out) + "\n")
        fail(exc.message, exc.code, as_json)
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text.", "file_not_utf8", as_json)
    if out:
        sys.stdout.write("\n".join(out) + "\n")


@numbers_app.command("normalize")
def numbers_normalize(
    raw: Annotated[str, typer.Argument(help="A phone number as a person typed it.")],
    region: Annotated[str, typer.Option(help="Region for numbers without +country.")] = "US",
    as_json: JsonOpt = False,
) -> None:
    """Normalise a number to E.164, or say exactly why it is not one."""
    result = numbers.normalize_with_warnings(raw, region)
    data = {"input": raw, "e164": result.e164, "warnings": list(result.warnings)}
    emit(data, as_json, result.e164 + "".join(f"\nwarning: {w}" for w in result.warnings))


# `stopline check` exit codes: documented in README ("Send-time rules").
CHECK_ALLOWED, CHECK_REFUSED, CHECK_DEFERRED = 0, 1, 3


@app.command()
def check(
    number: Annotated[str, typer.Argument(help="The recipient's number.")],
    channel: Annotated[int | None, typer.Option(help="Channel id the message would use.")] = None,
    list_id: Annotated[
        int | None, typer.Option("--list", help="List id of a campaign send.")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="conversational, informational (default) or marketing."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="When it would go, ISO 8601 (e.g. 2026-12-05T02:30:00Z); default now."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """May a message go to NUMBER now (or --at)? Exit 0 if it may go at that moment, 1 if
    refused (opted out, blocked, frequency_cap, ...), 3 if deferred (the time it may go is
    printed; --json gives it as ISO 8601 with the recipient's offset)."""
    from stopline.cli.messages import parse_at
    from stopline.services.checks import check_send

    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        result = check_send(
            conn,
            ws.id,
            number,
            policy=ws.policy,
            category=category,
            at=parse_at(at),
            channel_id=channel,
            list_id=list_id,
        )
    emit(result.as_dict(), as_json, result.text())
    if result.verdict == "refused":
        raise typer.Exit(CHECK_REFUSED)
    if result.verdict == "deferred":
        raise typer.Exit(CHECK_DEFERRED)


def _change_summary(result: optouts.ChangeResult, verb: str, number: str) -> dict[str, object]:
    return {
        "number": result.event.number if result.event else number,
        "changed": result.changed,
        "event_seq": result.event.seq if result.event else None,
        "canceled_messages": result.canceled_messages,
        "action": verb,
    }


@app.command("block")
def block_cmd(
    number: str,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the ledger).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Block NUMBER: nothing is sent to it and its texts are hidden from the inbox."""
    with writing() as conn:
        result = optouts.block(conn, operator(conn, workspace), number, reason=reason)
    data = _change_summary(result, "block", number)
    emit(
        data,
        as_json,
        f"blocked {data['number']}" if result.changed else f"{data['number']} was already blocked",
    )


@app.command("unblock")
def unblock_cmd(
    number: str,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the ledger).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Unblock NUMBER. It stays opted out: unblocking does not opt back in."""
    with writing() as conn:
        result = optouts.unblock(conn, operator(conn, workspace), number, reason=reason)
    data = _change_summary(result, "unblock", number)
    emit(
        data,
        as_json,
        f"unblocked {data['number']} (still opted out)"
        if result.changed
        else f"{data['number']} was not blocked",
    )


@channels_app.command("add")
def channels_add(
    address: Annotated[str, typer.Argument(help="Number, short code or messaging service id.")],
    provider: Annotated[str, typer.Option(help="twilio, telnyx, vonage, generic or console.")],
    type: Annotated[str, typer.Option("--type", help="sms, mms, whatsapp or rcs.")] = "sms",
    location: Annotated[str | None, typer.Option(help="Location name, if any.")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    account_sid: Annotated[str | None, typer.Option(help="Twilio account SID.")] = None,
    auth_token: Annotated[str | None, typer.Option(help="Twilio auth token.")] = None,
    api_key: Annotated[str | None, typer.Option(help="Telnyx/Vonage API key.")] = None,
    api_secret: Annotated[str | None, typer.Option(help="Vonage API secret.")] = None,
    public_key: Annotated[str | None, typer.Option(help="Telnyx webhook public key.")] = None,
    signature_secret: Annotated[str | None, typer.Option(help="Vonage signature secret.")] = None,
    secret: Annotated[str | None, typer.Option(help="Generic webhook HMAC secret.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Provider API base URL override.")] = None,
    messaging_profile_id: Annotated[
        str | None, typer.Option(help="Telnyx messaging profile id (to read its opt-outs).")
    ] = None,
    access_key_id: Annotated[str | None, typer.Option(help="AWS access key id.")] = None,
    secret_access_key: Annotated[str | None, typer.Option(help="AWS secret access key.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region, e.g. us-east-1.")] = None,
    sns_topic_arn: Annotated[
        str | None, typer.Option(help="AWS SNS topic ARN(s) whose notifications are accepted.")
    ] = None,
    opt_out_list: Annotated[
        str | None, typer.Option(help="AWS opt-out list name (default: Default).")
    ] = None,
    consent_sync: Annotated[
        bool,
        typer.Option(
            "--consent-sync/--no-consent-sync",
            help="Sync consent with the provider: push to Twilio/AWS, pull from Telnyx/AWS.",
        ),
    ] = False,
    accounts_base_url: Annotated[
        str | None, typer.Option(help="Twilio Consent API base URL override (accounts host).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a sending identity with its provider credentials (stored encrypted), and print the
    webhook URLs to paste at the provider."""
    from stopline.services import channels

    given = {
        "account_sid": account_sid,
        "auth_token": auth_token,
        "api_key": api_key,
        "api_secret": api_secret,
        "public_key": public_key,
        "signature_secret": signature_secret,
        "secret": secret,
        "messaging_profile_id": messaging_profile_id,
        "access_key_id": access_key_id,
        "secret_access_key": secret_access_key,
        "region": region,
        "sns_topic_arn": sns_topic_arn,
        "opt_out_list": opt_out_list,
    }
    missing = [k for k in channels.REQUIRED_CREDENTIALS.get(provider, ()) if not given.get(k)]
    if missing:
        fail(
            f"a {provider} channel needs " + ", ".join("--" + m.replace("_", "-") for m in missing),
            "credentials_missing",
            as_json,
        )
    rt = runtime()
    with writing() as conn:
        channel = channels.create_channel(
            conn,
            operator(conn, workspace),
            rt.keyring,
            address=address,
            provider=provider,
            type=type,
            location=location,
            name=name,
            credentials=given,
            base_url=base_url,
            consent_sync=consent_sync,
            accounts_base_url=accounts_base_url,
        )
    site = rt.config.public_url or "http://127.0.0.1:8000"
    data = channel.as_dict(site)
    webhooks = channels.webhook_urls(site, channel)

    def human() -> None:
        console.print(
            f"channel {channel.id}: {channel.address} ({channel.provider}, {channel.type})",
            highlight=False,
            markup=False,
        )
        for hook in webhooks:
            console.print(f"  {hook.label}: {hook.url}", highlight=False, markup=False)
        console.print(channel.instruction, highlight=False, markup=False, soft_wrap=True)
        if not rt.config.public_url:
            console.print(
                "(Set STOPLINE_PUBLIC_URL to the address providers reach stopline at; "
                "these URLs assume http://127.0.0.1:8000.)",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    emit(data, as_json, human)


@channels_app.command("edit")
def channels_edit(
    channel_id: Annotated[int, typer.Argument(help="Channel id (see `channels list`).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Provider API base URL override.")] = None,
    consent_sync: Annotated[
        bool | None,
        typer.Option(
            "--consent-sync/--no-consent-sync",
            help="Sync consent with the provider: push to Twilio/AWS, pull from Telnyx/AWS.",
        ),
    ] = None,
    accounts_base_url: Annotated[
        str | None, typer.Option(help="Twilio Consent API base URL override ('' to clear).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a channel's name, API URLs or consent sync switch."""
    from stopline.services import channels

    with writing() as conn:
        view = channels.update_channel(
            conn,
            operator(conn, workspace),
            runtime().keyring,
            channel_id,
            name=name,
            base_url=base_url,
            consent_sync=consent_sync,
            accounts_base_url=accounts_base_url,
        )
    data = {
        "id": view.id,
        "address": view.address,
        "provider": view.provider,
        "name": view.name,
        "consent_sync": view.consent_sync,
        "base_url": view.base_url,
        "accounts_base_url": view.accounts_base_url,
    }
    emit(
        data,
        as_json,
        f"channel {view.id}: {view.address} ({view.provider}), consent sync "
        + ("on" if view.consent_sync else "off"),
    )


@channels_app.command("list")
def channels_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The workspace's channels."""
    from stopline.store.workspaces import list_channels

    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        rows = list_channels(conn, ws.id)
    data = [
        {
            "id": r.id,
            "address": r.address,
            "provider": r.provider,
            "type": r.type,
            "location": r.location,
            "consent_sync": bool(r.consent_sync),
        }
        for r in rows
    ]
    emit(
        data,
        as_json,
        lambda: table(
            ["id", "address", "provider", "type", "location", "consent sync"],
            [list(d.values()) for d in data],
        ),
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="On an empty database, create a demo workspace to explore.")
    ] = True,
    worker: Annotated[
        bool, typer.Option(help="Run a send/job worker inside the server process.")
    ] = True,
) -> None:
    """Serve the web app, JSON API, Twilio-compatible API and webhooks on one port."""
    import uvicorn

    from stopline.web.app import create_app

    rt = runtime()
    if demo:
        from stopline.services.demo import (
            DEMO_EMAIL,
            demo_user_exists,
            ensure_demo,
            send_demo_campaign,
        )

        with writing() as conn:
            info = ensure_demo(conn, rt.keyring)
            existing_demo = info is None and demo_user_exists(conn)
        if info is not None:
            send_demo_campaign(rt.engine, rt.keyring, info.workspace_id)
            console.print(
                f"Demo workspace created. Sign in at http://{host}:{port}/ as "
                f"{info.email} / {info.password}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        elif existing_demo:
            console.print(
                f"Demo workspace: sign in as {DEMO_EMAIL} with the password printed when it was "
                f"created (`stopline password-reset {DEMO_EMAIL}` sets a new one).",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    from stopline.services.channels import ensure_console_secrets

    with writing() as conn:
        # Console channels made before they had a secret: simulated texts must verify.
        ensure_console_secrets(conn, rt.keyring)
    application = create_app(rt, run_worker=worker)
    console.print(
        f"stopline on http://{host}:{port}/ (API docs: /api/docs)", highlight=False, soft_wrap=True
    )
    uvicorn.run(application, host=host, port=port, log_level="warning")
