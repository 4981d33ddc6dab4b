"""The routers, gathered: everything under /v1 requires the API key when one is configured."""

from fastapi import APIRouter

from propscan.api.deps import ApiKeyDep
from propscan.api.routes import analyze, health, techniques

api_router = APIRouter(prefix="/v1", dependencies=[ApiKeyDep])
api_router.include_router(analyze.router)
api_router.include_router(techniques.router)

__all__ = ["api_router", "health"]
