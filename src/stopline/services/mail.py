"""Email the server sends (an export is ready), over the workspace's SMTP account or the server's.

A workspace admin can set its own SMTP account in Settings › Email: it is stored encrypted with
the keyring, like provider credentials, and its password is write-only (never shown or sent
back). Without one, the server operator's account from the environment is used:

    STOPLINE_SMTP_HOST      no host: email is off, and asking for it is refused up front
    STOPLINE_SMTP_PORT      default 587 (465 for ssl, 25 for none)
    STOPLINE_SMTP_TLS       starttls (default) | ssl | none; starttls never falls back to plain
    STOPLINE_SMTP_USERNAME  optional; login only over TLS unless STOPLINE_SMTP_TLS=none
    STOPLINE_SMTP_PASSWORD
    STOPLINE_SMTP_FROM      default stopline@<host>
    STOPLINE_SMTP_CA_FILE   optional CA bundle to trust (a private mail server's certificate)
    STOPLINE_SMTP_TIMEOUT   seconds, default 20
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import Connection

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.security import Keyring
from stopline.services.workspaces import Principal
from stopline.store import workspaces as ws_store

TLS_MODES = ("starttls", "ssl", "none")
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


class MailError(StoplineError):
    code = "mail_failed"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = "stopline@localhost"
    ca_file: str | None = None
    timeout: float = 20.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The configured SMTP server, or None when email is off."""
        env = os.environ if environ is None else environ
        host = env.get("STOPLINE_SMTP_HOST", "").strip()
        if not host:
            return None
        tls = env.get("STOPLINE_SMTP_TLS", "starttls").strip().lower() or "starttls"
        if tls not in TLS_MODES:
            raise InvalidInput(
                f"STOPLINE_SMTP_TLS must be one of {', '.join(TLS_MODES)}.", code="smtp_invalid"
            )
        default_port = {"ssl": 465, "none": 25}.get(tls, 587)
        try:
            port = int(env.get("STOPLINE_SMTP_PORT", "") or default_port)
            timeout = float(env.get("STOPLINE_SMTP_TIMEOUT", "") or 20)
        except ValueError:
            raise InvalidInput(
                "STOPLINE_SMTP_PORT and STOPLINE_SMTP_TIMEOUT must be numbers.",
                code="smtp_invalid",
            ) from None
        return cls(
            host=host,
            port=port,
            tls=tls,
            username=env.get("STOPLINE_SMTP_USERNAME") or None,
            password=env.get("STOPLINE_SMTP_PASSWORD") or None,
            sender=env.get("STOPLINE_SMTP_FROM") or f"stopline@{host}",
            ca_file=env.get("STOPLINE_SMTP_CA_FILE") or None,
            timeout=timeout,
        )


def require_configured_for(
    conn: Connection, keyring: Keyring | None, workspace_id: int
) -> SmtpSettings:
    """The workspace's own SMTP account if it set one (and a keyring can open it), else the
    server's from the environment; refused up front when neither exists."""
    own = workspace_settings(conn, keyring, workspace_id) if keyring is not None else None
    return own or require_configured()


def workspace_settings(
    conn: Connection, keyring: Keyring, workspace_id: int
) -> SmtpSettings | None:
    raw = keyring.decrypt(ws_store.smtp_blob(conn, workspace_id))
    if not raw or not raw.get("host"):
        return None
    return SmtpSettings(
        host=str(raw["host"]),
        port=int(raw.get("port") or 587),
        tls=str(raw.get("tls") or "starttls"),
        username=raw.get("username") or None,
        password=raw.get("password") or None,
        sender=str(raw.get("sender") or f"stopline@{raw['host']}"),
    )


@dataclass(frozen=True)
class WorkspaceSmtp:
    """The Email settings page: what is set, the password only as "is there one"."""

    host: str = ""
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    sender: str = ""
    has_password: bool = False
    from_environment: bool = False  # none of its own, but the server has one


def workspace_view(conn: Connection, keyring: Keyring, workspace_id: int) -> WorkspaceSmtp:
    own = workspace_settings(conn, keyring, workspace_id)
    if own is None:
        return WorkspaceSmtp(from_environment=SmtpSettings.from_env() is not None)
    return WorkspaceSmtp(
        host=own.host,
        port=own.port,
        tls=own.tls,
        username=own.username or "",
        sender=own.sender,
        has_password=bool(own.password),
    )


def save_workspace_settings(
    conn: Connection,
    keyring: Keyring,
    principal: Principal,
    *,
    host: str,
    port: int | str | None,
    tls: str,
    username: str | None,
    password: str | None,
    sender: str | None,
) -> WorkspaceSmtp:
    """Set (or, with no host, remove) the workspace's SMTP account; admins only.

    `password` None keeps the stored one (the form never shows it); "" is kept as well, so
    re-saving the form cannot erase it by accident: removing the host removes everything.
    """
    principal.require("admin")
    host = (host or "").strip()
    if not host:
        ws_store.set_smtp_blob(conn, principal.workspace_id, None)
        return workspace_view(conn, keyring, principal.workspace_id)
    if len(host) > 253 or any(c.isspace() or c in "/@" for c in host):
        raise InvalidInput(f"{host[:80]!r} is not a mail server name.", code="smtp_invalid")
    tls = (tls or "starttls").strip().lower()
    if tls not in TLS_MODES:
        raise InvalidInput(f"TLS is one of {', '.join(TLS_MODES)}.", code="smtp_invalid")
    try:
        number = int(port) if port not in (None, "") else {"ssl": 465, "none": 25}.get(tls, 587)
    except (TypeError, ValueError):
        raise InvalidInput("The port is a number such as 587.", code="smtp_invalid") from None
    if not 1 <= number <= 65535:
        raise InvalidInput("The port is a number from 1 to 65535.", code="smtp_invalid")
    user = (username or "").strip()[:320] or None
    if password is not None and len(password) > 500:
        raise InvalidInput("The password is at most 500 characters.", code="smtp_invalid")
    before = workspace_settings(conn, keyring, principal.workspace_id)
    kept = before.password if before is not None and before.username == user else None
    clear = {
        "host": host,
        "port": number,
        "tls": tls,
        "username": user,
        "password": password or kept,
        "sender": check_address(sender) if (sender or "").strip() else f"stopline@{host}",
    }
    ws_store.set_smtp_blob(conn, principal.workspace_id, keyring.encrypt(clear))
    return workspace_view(conn, keyring, principal.workspace_id)


def check_address(address: str | None) -> str:
    address = (address or "").strip()
    if not _EMAIL.fullmatch(address) or len(address) > 320:
        raise InvalidInput(f"{address!r} is not an email address.", code="email_invalid")
    return address


def require_configured(environ: Mapping[str, str] | None = None) -> SmtpSettings:
    settings = SmtpSettings.from_env(environ)
    if settings is None:
        raise InvalidInput(
            "Email is not configured on this server (STOPLINE_SMTP_HOST); "
            "download the file when it is ready instead.",
            code="email_not_configured",
        )
    return settings


def send(settings: SmtpSettings, to: str, subject: str, body: str) -> str:
    """Send one plain-text email; returns its Message-ID. Raises MailError with the reason."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = check_address(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1])
    message.set_content(body)
    context = ssl.create_default_context(cafile=settings.ca_file)
    try:
        client: smtplib.SMTP
        if settings.tls == "ssl":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if settings.tls == "starttls":
                if not client.has_extn("starttls"):
                    raise MailError(
                        f"{settings.host} does not offer STARTTLS; refusing to send in the clear.",
                        code="smtp_no_starttls",
                    )
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password or "")
            client.send_message(message)
    except MailError:
        raise
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"Could not send email via {settings.host}: {exc}") from exc
    return str(message["Message-ID"])
