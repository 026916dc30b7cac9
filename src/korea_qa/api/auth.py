"""The API key that guards every endpoint that changes state."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header

from korea_qa.api.errors import ApiError
from korea_qa.api.state import StateDep


async def require_api_key(
    state: StateDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """`X-API-Key: <key>` or `Authorization: Bearer <key>`, compared in constant time; 403
    while no key is configured (writes are then disabled), 401 for a missing or wrong one."""
    configured = state.settings.api_key
    if configured is None or not configured.get_secret_value():
        raise ApiError(403, "state-changing endpoints are disabled: no KOREA_QA_API_KEY is set")
    given = x_api_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    expected = configured.get_secret_value().encode()
    if given is None or not hmac.compare_digest(given.encode(), expected):
        raise ApiError(401, "a valid API key is required (X-API-Key or Authorization: Bearer)",
                       headers={"WWW-Authenticate": "Bearer"})


KeyDep = Annotated[None, Depends(require_api_key)]
