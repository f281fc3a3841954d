"""User and agent JWTs: claims, lifetimes, and every way a forged or misused token is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from leoflow.auth.tokens import (
    AGENT_AUDIENCE,
    USER_AUDIENCE,
    JwtSecretError,
    TokenExpiredError,
    TokenInvalidError,
    UserTokens,
    mint_agent_token,
    verify_agent_token,
)

SECRET = "unit-test-secret-0123456789abcdef"


def _agent_token(expires_in: int = 300, now: datetime | None = None) -> str:
    return mint_agent_token(
        SECRET,
        tenant="default",
        dag_id="etl",
        run_id="manual__2024-01-01",
        task_id="load",
        map_index=3,
        try_number=2,
        expires_in=expires_in,
        now=now,
    )


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_user_token_round_trip_carries_the_claims() -> None:
    tokens = UserTokens(SECRET, expiration_seconds=600)
    issued = tokens.mint("alice", "default", ["Op", "Admin"])
    claims = tokens.verify(issued.token)
    assert (claims.username, claims.tenant, claims.roles) == ("alice", "default", ("Admin", "Op"))
    assert claims.jti == issued.jti and len(issued.jti) == 32
    assert issued.expires_in == 600
    assert claims.expires_at - claims.issued_at == timedelta(seconds=600)
    raw = jwt.decode(issued.token, options={"verify_signature": False})
    assert raw["aud"] == USER_AUDIENCE
    assert {"sub", "tenant", "roles", "jti", "iat", "exp"} <= set(raw)
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"


def test_every_token_gets_a_fresh_jti() -> None:
    tokens = UserTokens(SECRET)
    assert tokens.mint("a", "default").jti != tokens.mint("a", "default").jti


def test_expired_user_token_is_refused_as_expired() -> None:
    tokens = UserTokens(SECRET)
    issued = tokens.mint(
        "alice", "default", now=datetime.now(UTC) - timedelta(hours=2), expires_in=60
    )
    with pytest.raises(TokenExpiredError):
        tokens.verify(issued.token)


def test_tampered_payload_is_refused() -> None:
    tokens = UserTokens(SECRET)
    header, payload, signature = tokens.mint("alice", "default", ["Viewer"]).token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["Admin"]
    claims["sub"] = "admin"
    forged = ".".join([header, _b64(claims), signature])
    with pytest.raises(TokenInvalidError):
        tokens.verify(forged)


def test_other_secret_is_refused() -> None:
    issued = UserTokens("another-secret-0123456789abcdef").mint("alice", "default")
    with pytest.raises(TokenInvalidError):
        UserTokens(SECRET).verify(issued.token)


def test_alg_none_is_refused() -> None:
    tokens = UserTokens(SECRET)
    good = jwt.decode(tokens.mint("alice", "default").token, options={"verify_signature": False})
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(good) + "."
    with pytest.raises(TokenInvalidError):
        tokens.verify(unsigned)


def test_token_signed_with_the_raw_secret_is_refused() -> None:
    """Each audience signs with its own derived key: knowing the claims layout and signing
    with the configured secret itself is not enough."""
    tokens = UserTokens(SECRET)
    good = jwt.decode(tokens.mint("alice", "default").token, options={"verify_signature": False})
    forged = jwt.encode(good, SECRET, algorithm="HS256")
    with pytest.raises(TokenInvalidError):
        tokens.verify(forged)


def test_missing_claims_are_refused() -> None:
    tokens = UserTokens(SECRET)
    with pytest.raises(TokenInvalidError):
        tokens.verify("not-a-jwt")
    with pytest.raises(TokenInvalidError):
        tokens.verify("")


def test_agent_token_round_trip_is_scoped_to_one_try() -> None:
    token = _agent_token()
    claims = verify_agent_token(SECRET, token)
    assert (claims.tenant, claims.dag_id, claims.run_id, claims.task_id) == (
        "default",
        "etl",
        "manual__2024-01-01",
        "load",
    )
    assert (claims.map_index, claims.try_number) == (3, 2)
    raw = jwt.decode(token, options={"verify_signature": False})
    assert raw["aud"] == AGENT_AUDIENCE
    assert raw["sub"] == claims.subject == "ti:default/etl/manual__2024-01-01/load/3/2"


def test_user_token_is_not_an_agent_token_and_vice_versa() -> None:
    user_token = UserTokens(SECRET).mint("alice", "default").token
    agent_token = _agent_token()
    with pytest.raises(TokenInvalidError):
        verify_agent_token(SECRET, user_token)
    with pytest.raises(TokenInvalidError):
        UserTokens(SECRET).verify(agent_token)


def test_agent_token_with_rewritten_scope_is_refused() -> None:
    token = _agent_token()
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["task_id"] = "other"
    with pytest.raises(TokenInvalidError):
        verify_agent_token(SECRET, ".".join([header, _b64(claims), signature]))


def test_expired_agent_token_is_refused() -> None:
    token = _agent_token(expires_in=30, now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(TokenExpiredError):
        verify_agent_token(SECRET, token)


def test_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(JwtSecretError, match="LEOFLOW_JWT_SECRET"):
        UserTokens("short")
