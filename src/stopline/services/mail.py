"""Email the server sends (an export is ready), over SMTP configured in the environment.

SMTP settings live in the environment, beside the database URL and the secret key, not in the
workspace settings: they are the server operator's mail account, used for system notices
rather than for texting customers; the password then never sits in the database, in a backup
or behind the settings API; and the background worker, which has no keyring, can read them.

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

from stopline.domain.errors import InvalidInput, StoplineError

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
