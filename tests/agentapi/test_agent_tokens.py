"""Agent token scoping: what a token may name, refusal reasons, and lifetimes."""

from __future__ import annotations

import grpc
import pytest

from leoflow.agentapi.tokens import (
    TOKEN_MARGIN_SECONDS,
    AgentAuthError,
    authenticate,
    check_scope,
    token_lifetime,
)
from leoflow.auth.tokens import UserTokens, mint_agent_token
from leoflow_sdk.protocol import agent_pb2, bearer_metadata

SECRET = "unit-test-secret-0123456789abcdef"


def _mint(**extra: object) -> str:
    claims: dict[str, object] = {
        "tenant": "acme",
        "dag_id": "etl",
        "run_id": "manual__1",
        "task_id": "load",
        "map_index": -1,
        "try_number": 2,
    }
    claims.update(extra)
    return mint_agent_token(SECRET, **claims)  # type: ignore[arg-type]


def _key(**extra: object) -> agent_pb2.TaskInstanceKey:
    fields: dict[str, object] = {
        "tenant": "acme",
        "dag_id": "etl",
        "run_id": "manual__1",
        "task_id": "load",
        "map_index": -1,
        "try_number": 2,
    }
    fields.update(extra)
    return agent_pb2.TaskInstanceKey(**fields)  # type: ignore[arg-type]


def test_token_names_exactly_one_try() -> None:
    claims = authenticate(SECRET, bearer_metadata(_mint()))
    check_scope(claims, _key())
    for field, other in [
        ("tenant", "other"),
        ("dag_id", "other"),
        ("run_id", "manual__2"),
        ("task_id", "extract"),
        ("map_index", 0),
        ("try_number", 1),
        ("try_number", 3),
    ]:
        with pytest.raises(AgentAuthError) as info:
            check_scope(claims, _key(**{field: other}))
        assert info.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert info.value.reason == "scope_mismatch"


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "missing_token"),
        ((("authorization", "Token abc"),), "missing_token"),
        (bearer_metadata("not.a.jwt"), "invalid_token"),
        (bearer_metadata(UserTokens(SECRET).mint("alice", "acme").token), "invalid_token"),
        (bearer_metadata(_mint(expires_in=-3600)), "expired_token"),
    ],
)
def test_refusals_are_unauthenticated_with_a_reason(
    metadata: tuple[tuple[str, str], ...], reason: str
) -> None:
    with pytest.raises(AgentAuthError) as info:
        authenticate(SECRET, metadata)
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert info.value.reason == reason


def test_an_agent_token_is_no_user_token() -> None:
    from leoflow.auth.tokens import TokenInvalidError

    with pytest.raises(TokenInvalidError):
        UserTokens(SECRET).verify(_mint())


def test_lifetime_covers_the_execution_timeout() -> None:
    assert token_lifetime(86400, None) == 86400
    assert token_lifetime(86400, 600) == 86400
    assert token_lifetime(3600, 7200.5) == 7201 + TOKEN_MARGIN_SECONDS


def test_the_launching_executor_is_a_signed_claim() -> None:
    """Where the try runs (the pod executor says so) travels in the token, tamper-proof."""
    assert authenticate(SECRET, bearer_metadata(_mint())).executor is None
    claims = authenticate(SECRET, bearer_metadata(_mint(executor="kubernetes")))
    assert claims.executor == "kubernetes"
    check_scope(claims, _key())  # the claim does not change what the token may name
    with pytest.raises(AgentAuthError) as info:
        authenticate(SECRET, bearer_metadata(_mint(executor="")))
    assert info.value.reason == "invalid_token"


def test_a_token_seen_before_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call of a try carries the same token: its signature is checked once."""
    from leoflow.agentapi import tokens as tokens_module

    verified: list[str] = []
    real = tokens_module.verify_agent_token

    def counted(secret: str | bytes, token: str) -> object:
        verified.append(token)
        return real(secret, token)

    monkeypatch.setattr(tokens_module, "verify_agent_token", counted)
    known = tokens_module.VerifiedTokens(SECRET, capacity=2)
    first, second = _mint(), _mint(task_id="extract")
    for _ in range(3):
        assert known.authenticate(bearer_metadata(first)).task_id == "load"
        assert known.authenticate(bearer_metadata(second)).task_id == "extract"
    assert verified == [first, second]
    known.authenticate(bearer_metadata(_mint(task_id="third")))  # the oldest is forgotten
    known.authenticate(bearer_metadata(first))
    assert verified == [first, second, verified[2], first]


def test_a_remembered_token_still_expires_and_a_bad_one_is_never_remembered() -> None:
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from leoflow.agentapi.tokens import VerifiedTokens
    from leoflow.auth.tokens import LEEWAY_SECONDS

    known = VerifiedTokens(SECRET)
    soon = _mint(expires_in=1)
    assert known.authenticate(bearer_metadata(soon)).task_id == "load"
    known._known[soon] = dataclasses.replace(  # age the remembered claims
        known._known[soon],
        expires_at=datetime.now(UTC) - timedelta(seconds=LEEWAY_SECONDS + 1),
    )
    with pytest.raises(AgentAuthError) as info:
        known.authenticate(bearer_metadata(soon))
    assert info.value.reason == "expired_token"
    forged = _mint()[:-2] + "xx"
    for _ in range(2):
        with pytest.raises(AgentAuthError) as info:
            known.authenticate(bearer_metadata(forged))
        assert info.value.reason == "invalid_token"
    with pytest.raises(AgentAuthError) as info:
        known.authenticate(())
    assert info.value.reason == "missing_token"
