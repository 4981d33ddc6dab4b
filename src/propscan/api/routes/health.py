"""GET /healthz: is the model loaded, and how busy is it. Open without an API key, for probes."""

from __future__ import annotations

from fastapi import APIRouter

from propscan.api.deps import AnalyzerDep, BatcherDep
from propscan.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, summary="Liveness and load")
def health(analyzer: AnalyzerDep, batcher: BatcherDep) -> HealthPublic:
    return HealthPublic(
        status="ok",
        model=analyzer.name,
        pending=batcher.pending,
        batches=batcher.stats.batches,
        documents=batcher.stats.documents,
    )
