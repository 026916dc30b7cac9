"""The API key that guards every endpoint that changes state.

Declared as FastAPI security schemes, so /openapi.json says which operations need it and how
to send it: `X-API-Key: <key>` or `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from korea_qa.api.errors import ApiError
from korea_qa.api.state import StateDep

# auto_error=False: a missing key is ours to answer (401 in the one error shape).
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                       description="The key set in KOREA_QA_API_KEY.")
BEARER = HTTPBearer(auto_error=False, description="The same key as a bearer token.")


async def require_api_key(
    state: StateDep,
    x_api_key: Annotated[str | None, Security(API_KEY)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """The key, compared in constant time; 403 while no key is configured (writes are then
    disabled), 401 for a missing or wrong one."""
    configured = state.settings.api_key
    if configured is None or not configured.get_secret_value():
        raise ApiError(403, "state-changing endpoints are disabled: no KOREA_QA_API_KEY is set")
    given = x_api_key if x_api_key is not None else (bearer.credentials if bearer else None)
    expected = configured.get_secret_value().encode()
    if given is None or not hmac.compare_digest(given.encode(), expected):
        raise ApiError(401, "a valid API key is required (X-API-Key or Authorization: Bearer)",
                       headers={"WWW-Authenticate": "Bearer"})


KeyDep = Annotated[None, Depends(require_api_key)]
