"""Authentication and authorization: tokens, passwords, roles, login throttling, audit.

The API layer asks :class:`~leoflow.auth.service.AuthService` who is calling; the gRPC agent
service verifies per-task tokens with :func:`~leoflow.auth.tokens.verify_agent_token`.
"""

from leoflow.auth.authenticator import Authenticator, Identity, PasswordAuthenticator
from leoflow.auth.errors import AuthError
from leoflow.auth.principal import Principal
from leoflow.auth.rbac import BUILTIN_ROLES, ROLE_ORDER, Permission
from leoflow.auth.service import AuthService
from leoflow.auth.tokens import (
    AGENT_AUDIENCE,
    USER_AUDIENCE,
    AgentClaims,
    TokenExpiredError,
    TokenInvalidError,
    mint_agent_token,
    verify_agent_token,
)

__all__ = [
    "AGENT_AUDIENCE",
    "BUILTIN_ROLES",
    "ROLE_ORDER",
    "USER_AUDIENCE",
    "AgentClaims",
    "AuthError",
    "AuthService",
    "Authenticator",
    "Identity",
    "PasswordAuthenticator",
    "Permission",
    "Principal",
    "TokenExpiredError",
    "TokenInvalidError",
    "mint_agent_token",
    "verify_agent_token",
]
