"""Who may do what: bearer tokens resolve to a principal, each route needs a minimum role, and the principal's
identity (never the request body) is what the complaint's events record as `by`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from starter.api.problems import ProblemError
from starter.service.tokens import Principal, ReloadingTokens, Role, TokenStore

bearer = HTTPBearer(auto_error=False, description="A token from `cxsla token new` (its hash is configured).")


def authenticate(tokens: TokenStore | ReloadingTokens, credentials: HTTPAuthorizationCredentials | None,
                 needed: Role) -> Principal:
    if credentials is None:
        raise ProblemError(401, "unauthorized", "a bearer token is required: Authorization: Bearer <token>",
                           headers={"WWW-Authenticate": 'Bearer realm="cxsla"'})
    principal = tokens.authenticate(credentials.credentials)
    if principal is None:
        raise ProblemError(401, "unauthorized", "the bearer token is not known (revoked or mistyped)",
                           headers={"WWW-Authenticate": 'Bearer realm="cxsla", error="invalid_token"'})
    if not principal.role.allows(needed):
        raise ProblemError(403, "forbidden", f"{principal.identity} has role {principal.role.value}; "
                                             f"this needs {needed.value} or higher")
    return principal


def require(needed: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits tokens of role `needed` or higher and yields the principal."""

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal:
        return authenticate(request.app.state.tokens, credentials, needed)

    return dependency
