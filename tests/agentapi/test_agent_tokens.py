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
