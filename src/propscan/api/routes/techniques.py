"""GET /v1/techniques: the inventory of the loaded model, with definitions and highlight colours."""

from __future__ import annotations

from fastapi import APIRouter

from propscan.api.deps import AnalyzerDep
from propscan.api.schemas import TechniquePublic, TechniquesPublic

router = APIRouter(prefix="/techniques", tags=["techniques"])


@router.get("", response_model=TechniquesPublic, summary="The techniques the model can find")
def list_techniques(analyzer: AnalyzerDep) -> TechniquesPublic:
    data = [
        TechniquePublic(label=t.label, name=t.name, definition=t.definition, example=t.example, color=t.color)
        for t in analyzer.techniques
    ]
    return TechniquesPublic(data=data, count=len(data))
