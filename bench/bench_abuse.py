"""The audit's hostile requests against a running server, with the figures the audit reported.

Starts ``propscan serve`` (fast model) like ``bench_server.py``, or drives ``--url``, and prints:

1. a 5 MB body with a million ``techniques``: status, answer size, seconds, and the slowest
   ``/healthz`` answered meanwhile (audit: a 410 MB 422 after 41 s, /healthz blocked 39 s);
2. a short article sent while a long one (``--long-kb``, one repeated word) is analyzed: its wait,
   and what the long one's client got (audit: 19 s behind 300 KB; 1 MB took 64 s, no time budget);
3. an 8,000-character article sent right after 32 abandoned ones: its wait, against the same
   article alone (audit: 11 s).

    python bench/bench_abuse.py                    # starts a server with PROPSCAN_REQUEST_TIMEOUT=20
    python bench/bench_abuse.py --long-kb 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time

import httpx
from bench_server import ARTICLES, free_port, long_article, start_server, stop_server, wait_until_up

SHORT = ARTICLES[0]


async def million_techniques(http: httpx.AsyncClient) -> str:
    body = json.dumps({"text": SHORT, "techniques": ["x"] * 1_000_000}).encode()
    slowest = 0.0
    sent = time.perf_counter()
    request = asyncio.create_task(http.post("/v1/analyze", content=body, headers={"content-type": "application/json"}))
    while not request.done():
        probe = time.perf_counter()
        await http.get("/healthz")
        slowest = max(slowest, time.perf_counter() - probe)
        await asyncio.sleep(0.05)
    response = await request
    return (
        f"{len(body) / 1e6:.1f} MB, 1,000,000 techniques: {response.status_code}, {len(response.content):,}-byte answer "
        f"in {time.perf_counter() - sent:.2f} s; slowest /healthz meanwhile {slowest * 1000:.0f} ms"
    )


async def short_behind_long(http: httpx.AsyncClient, long_kb: int) -> str:
    long = asyncio.create_task(http.post("/v1/analyze", json={"text": "propaganda " * (long_kb * 1000 // 11)}))
    await asyncio.sleep(1.0)  # the long article is in the model by now
    sent = time.perf_counter()
    short = await http.post("/v1/analyze", json={"text": SHORT})
    waited = time.perf_counter() - sent
    long_response = await long
    long_answer = f"{long_response.status_code}"
    if "retry-after" in long_response.headers:
        long_answer += f" (Retry-After {long_response.headers['retry-after']})"
    return f"short article behind a {long_kb:,} KB one: {short.status_code} after {waited:.2f} s; the long one got {long_answer}"


async def after_abandoned(url: str, http: httpx.AsyncClient) -> str:
    text = long_article(8_000)

    async def abandon() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=0.5) as gone:
            with contextlib.suppress(httpx.TimeoutException):  # the client gives up and closes its connection
                await gone.post("/v1/analyze", json={"text": text})

    sent = time.perf_counter()
    await http.post("/v1/analyze", json={"text": text})
    alone = time.perf_counter() - sent
    await asyncio.gather(*(abandon() for _ in range(32)))
    sent = time.perf_counter()
    response = await http.post("/v1/analyze", json={"text": text})
    return (
        f"8,000-character article after 32 abandoned ones: {response.status_code} after {time.perf_counter() - sent:.2f} s "
        f"({alone:.2f} s alone)"
    )


async def drive(url: str, long_kb: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        await http.post("/v1/analyze", json={"text": SHORT})  # warm-up
        return [
            await million_techniques(http),
            await short_behind_long(http, long_kb),
            await after_abandoned(url, http),
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--long-kb", type=int, default=300, help="size of the long article in KB (default 300)")
    parser.add_argument("--timeout", default="20", help="PROPSCAN_REQUEST_TIMEOUT of the started server (default 20)")
    parser.add_argument("--url", default=None, help="drive this running server instead of starting one")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        os.environ["PROPSCAN_REQUEST_TIMEOUT"] = args.timeout
        server = start_server(args.model, port, 1, None)
    try:
        wait_until_up(url, server)
        for line in asyncio.run(drive(url, args.long_kb)):
            print(line)
    finally:
        if server is not None:
            stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
