"""Schemathesis over the app's own OpenAPI document: the JSON API never answers 500 and every
answer it documents has the documented shape, whatever the (valid or invalid) input.

Every operation under /api/v1 is called with generated parameters and bodies and a valid API key
of a workspace that has data (so ids and numbers sometimes hit real rows). The Twilio-compatible
API is fuzzed the same way with its basic auth. Webhooks are fuzzed in test_webhook_fuzz.py
(they are authenticated by signature, not by key).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

from stopline.services import campaigns, optouts, queueing, workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import write
from tests.conftest import unique_number

# Not a server error, and the documented content type and body schema where a status is
# documented. Undocumented error statuses (404, 409, 422 ...) carry stopline's error envelope,
# checked below in `test_errors_use_the_documented_envelope`.
CHECKS = [
    checks.not_a_server_error,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES = 6  # per operation, mode and database: ~65 operations x 2 modes x 2 databases


@pytest.fixture
def fuzz_world(engine, keyring) -> dict[str, Any]:
    """A workspace with a channel, opt-outs, a list, a campaign, a message, a contact."""
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn,
            name=f"Fuzz {uuid.uuid4().hex[:6]}",
            owner_email=f"fuzz-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        )
        ws = created.workspace
        owner = Principal(workspace_id=ws.id, role="owner", actor="fuzz")
        channel = workspaces.add_channel(
            conn, ws.id, keyring, address=unique_number(), provider="console"
        )
        for _ in range(3):
            optouts.add_opt_out(conn, owner, unique_number(), reason="fuzz")
        the_list = campaigns.create_list(conn, owner, "Fuzz list")
        campaigns.add_members(conn, owner, the_list.id, [unique_number() for _ in range(3)])
        campaigns.create_campaign(conn, owner, name="Fuzz", body="hi", list_ids=[the_list.id])
        queueing.enqueue(conn, ws.id, channel_id=channel.id, to=unique_number(), body="hello")
    return {"created": created, "channel": channel}


def _fuzz(
    app: Any,
    path_regex: str,
    headers: dict[str, str],
    prepare: Any = None,
    envelope: Any = None,
) -> list[str]:
    """Every operation matching `path_regex`, with valid and invalid generated input; returns
    what failed (an operation's first failing example, with schemathesis' explanation)."""
    schema = schemathesis.openapi.from_asgi("/api/docs/openapi.json", app).include(
        path_regex=path_regex
    )
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"no operation matches {path_regex}"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case: Any) -> None:
                if prepare is not None:
                    prepare(case)
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                if envelope is not None:
                    envelope(response)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])
    return failures


def test_the_json_api_never_fails_on_any_input(app: Any, fuzz_world: dict[str, Any]) -> None:
    key = fuzz_world["created"].api_key
    failures = _fuzz(app, r"^/api/v1/", {"Authorization": f"Bearer {key}"}, None, _error_envelope)
    assert not failures, "\n\n".join(failures)


def test_the_twilio_compatible_api_never_fails_on_any_input(
    app: Any, fuzz_world: dict[str, Any]
) -> None:
    created = fuzz_world["created"]
    sid = created.workspace.account_sid
    token = base64.b64encode(f"{sid}:{created.auth_token}".encode()).decode()

    def own_account(case: Any) -> None:
        # Our own account, so that requests get past authentication to the interesting part.
        if case.path_parameters is not None and "account_sid" in case.path_parameters:
            case.path_parameters["account_sid"] = sid

    failures = _fuzz(app, r"^/2010-04-01/", {"Authorization": f"Basic {token}"}, own_account)
    assert not failures, "\n\n".join(failures)


def _error_envelope(response: Any) -> None:
    """Every 4xx of the JSON API says what went wrong in one stable shape."""
    if 400 <= response.status_code < 500 and response.headers.get("content-type", [""])[
        0
    ].startswith("application/json"):
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
        assert isinstance(body["error"].get("code"), str), body
