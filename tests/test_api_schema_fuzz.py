"""A bounded property-based run over the OpenAPI schema (schemathesis): no request may get a 5xx.

Schemathesis generates requests that fit the schema and requests that do not, for every operation
the server publishes, against the real ``fast`` model and a corpus database; no answer may be a
server error. ``bench/bench_schema.py`` runs the same with many more, random, examples
(``PROPSCAN_FUZZ_EXAMPLES``, ``PROPSCAN_FUZZ_RANDOM``) and prints the cases run and the statuses seen.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the property-based run needs schemathesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from propscan.api import ServerSettings, create_app  # noqa: E402
from propscan.batch.store import Store  # noqa: E402
from tests.analyses import analysis_of  # noqa: E402
from tests.test_report import DOCS  # noqa: E402 - the hand-placed spans the corpus tests use

# Examples of analyze requests per mode; the other operations, cheaper than an analysis, get twice
# as many. About 30 s here; the same examples each run unless PROPSCAN_FUZZ_RANDOM is set.
EXAMPLES = int(os.environ.get("PROPSCAN_FUZZ_EXAMPLES", "10"))
RANDOM = bool(os.environ.get("PROPSCAN_FUZZ_RANDOM"))


@pytest.fixture(scope="module")
def api_schema(fast_analyzer, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'corpus.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {"threshold": 0.0})
        for document, spans in DOCS:
            store.save_analysis(run.id, analysis_of(document, spans, 0.5))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROPSCAN_DB", url)
        app = create_app(ServerSettings(model="fast", max_body_bytes=100_000), analyzer=fast_analyzer)
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_request_gets_a_server_error(api_schema) -> None:
    statuses: Counter[str] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES * (1 if operation.path == "/v1/analyze" else 2),
                derandomize=not RANDOM,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def no_server_error(case) -> None:
                response = case.call()
                statuses[f"{response.status_code // 100}xx"] += 1
                assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"

            try:
                no_server_error()
            except Unsatisfiable:  # an operation without parameters has no invalid request to make
                assert mode is GenerationMode.NEGATIVE
    assert statuses["5xx"] == 0
    if os.environ.get("PROPSCAN_FUZZ_REPORT"):
        with open(os.environ["PROPSCAN_FUZZ_REPORT"], "w", encoding="utf-8") as report:
            json.dump({"cases": sum(statuses.values()), "statuses": dict(statuses)}, report)
