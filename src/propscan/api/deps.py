"""Dependencies the routes declare: the analyzer, the batcher, the settings and the API key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from propscan.api.batching import Batcher
from propscan.api.config import ServerSettings
from propscan.pipeline import Analyzer


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def get_analyzer(request: Request) -> Analyzer:
    return request.app.state.analyzer


def get_batcher(request: Request) -> Batcher:
    return request.app.state.batcher


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
AnalyzerDep = Annotated[Analyzer, Depends(get_analyzer)]
BatcherDep = Annotated[Batcher, Depends(get_batcher)]

# auto_error=False: a missing key is only an error when the server has one configured.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The key set in PROPSCAN_API_KEY.")
_bearer = HTTPBearer(auto_error=False, description="The key set in PROPSCAN_API_KEY, as a bearer token.")


def require_api_key(
    settings: SettingsDep,
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """Refuse the call with 401 unless it carries the configured key (no key configured: open).

    Raises:
        HTTPException: 401 when a key is configured and the request lacks it or has another.
    """
    expected = settings.api_key
    if not expected:
        return
    given = api_key or (bearer.credentials if bearer is not None else None)
    # Starlette decodes header bytes as latin-1; undo that to compare the bytes the client sent
    # with the key's UTF-8, so a key like "clé" works when sent as UTF-8, as clients send it.
    if given is None or not hmac.compare_digest(given.encode("latin-1"), expected.encode("utf-8")):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid API key is required: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )


ApiKeyDep = Depends(require_api_key)
