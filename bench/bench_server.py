"""Load benchmark: many concurrent clients against a running propscan server.

Starts ``propscan serve`` (the ``fast`` model by default) on a free port, or drives ``--url``,
then runs ``--clients`` async clients (httpx.AsyncClient), each posting articles back to back for
``--seconds``: ``--long-clients`` of them post a long article (``--long-chars``, 8,000 by default),
the others short ones. Prints requests/s, latency percentiles of short and long requests apart,
the error count (which must be zero) and the server's mean batch size. Exits 1 if any request failed.

    python bench/bench_server.py                       # 32 clients (4 long), 60 s, fast model
    python bench/bench_server.py --long-clients 0      # short articles only
    python bench/bench_server.py --seconds 20 --model accurate
    python bench/bench_server.py --url http://127.0.0.1:8000   # a server you started yourself
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter

import httpx

# Example articles of different lengths, written for this benchmark.
ARTICLES = [
    "The council's shameful, reckless budget is the worst betrayal this city has ever seen. "
    "Every decent family knows it. Stop the cuts now!",
    "Officials confirmed on Monday that the bridge on Mill Road will close for repairs in April. "
    "Traffic will be diverted through the station car park for about six weeks, the transport office said. "
    "Cyclists and pedestrians can still cross on the temporary footbridge.",
    "They told us the new stadium would pay for itself. They told us the traffic would be fine. "
    "They told us the neighbourhood would thrive. Instead the so-called planners have handed our streets "
    "to a gang of greedy developers, and anyone who questions them is branded an enemy of progress.\n\n"
    "Can we really trust a mayor who hides the contracts from the public? Either we stop this deal now, "
    "or our children will inherit nothing but debt and concrete. Real patriots will not stand by while "
    "this town is sold off piece by piece. A senior economist, who would not give her name, warned that "
    "the project is doomed to fail. Enough is enough.",
    "Farmers across the valley reported a strong harvest this autumn after a mild summer. "
    "The cooperative said prices stayed close to last year's, and most growers expect to plant the same crops again. "
    "A spokesperson added that the new storage barn will be finished before the winter.",
]


def long_article(chars: int) -> str:
    """The example articles end to end, as paragraphs, cut at a word near ``chars`` characters."""
    text = ""
    while len(text) < chars:
        text += "\n\n".join(ARTICLES) + "\n\n"
    return text[:chars].rsplit(" ", 1)[0] + "."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: str, port: int, workers: int, threads: int | None) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "propscan.cli",
        "serve",
        "--model",
        model,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    if threads:
        command += ["--threads", str(threads)]
    return subprocess.Popen(command, start_new_session=True)


def wait_until_up(url: str, server: subprocess.Popen | None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {url} was not ready within {timeout:.0f} s")


async def drive(
    url: str, clients: int, long_clients: int, long_text: str, seconds: float, headers: dict[str, str]
) -> tuple[dict[str, list[float]], Counter, float]:
    latencies: dict[str, list[float]] = {"short": [], "long": []}
    errors: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits, headers=headers) as http:
        await http.post("/v1/analyze", json={"text": ARTICLES[0]})  # warm-up, not counted
        start = time.perf_counter()
        deadline = start + seconds

        async def client(number: int) -> None:
            turn = number
            kind = "long" if number < long_clients else "short"
            while time.perf_counter() < deadline:
                text = long_text if kind == "long" else ARTICLES[turn % len(ARTICLES)]
                turn += 1
                sent = time.perf_counter()
                try:
                    response = await http.post("/v1/analyze", json={"text": text})
                except httpx.HTTPError as error:
                    errors[type(error).__name__] += 1
                    continue
                if response.status_code == 200 and response.json().get("text") == text:
                    latencies[kind].append(time.perf_counter() - sent)
                else:
                    errors[f"HTTP {response.status_code}"] += 1

        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server's process group: politely, then for good after 30 s."""
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (values or [0.0])[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast", help="fast (default), accurate or a model folder")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--long-clients", type=int, default=4, help="clients that post long articles (default 4)")
    parser.add_argument("--long-chars", type=int, default=8_000, help="length of the long article (default 8,000)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1, help="server processes (when this script starts the server)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per server process")
    parser.add_argument("--url", default=None, help="drive this running server instead of starting one")
    parser.add_argument("--api-key", default=os.environ.get("PROPSCAN_API_KEY"), help="default: $PROPSCAN_API_KEY")
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(args.model, port, args.workers, args.threads)
    try:
        wait_until_up(url, server)
        headers = {"X-API-Key": args.api_key} if args.api_key else {}
        before = httpx.get(f"{url}/healthz").json()
        long_text = long_article(args.long_chars)
        latencies, errors, elapsed = asyncio.run(
            drive(url, args.clients, args.long_clients, long_text, args.seconds, headers)
        )
        after = httpx.get(f"{url}/healthz").json()
    finally:
        if server is not None:
            stop_server(server)

    total_errors = sum(errors.values())
    done = sum(len(values) for values in latencies.values())
    print(f"server      {url}  model {after['model']}  ({args.workers} worker(s))")
    print(
        f"load        {args.clients} concurrent clients ({args.long_clients} posting {len(long_text):,}-character articles) for {elapsed:.1f} s"
    )
    print(f"requests    {done} ok, {total_errors} errors{'  ' + dict(errors).__repr__() if errors else ''}")
    print(f"throughput  {done / elapsed:.2f} requests/s")
    for kind, values in latencies.items():
        if values:
            print(
                f"{kind:<5} ({len(values):>4})  p50 {percentile(values, 50) * 1000:.0f} ms  p95 {percentile(values, 95) * 1000:.0f} ms  "
                f"p99 {percentile(values, 99) * 1000:.0f} ms  max {max(values) * 1000:.0f} ms"
            )
    batches = after["batches"] - before["batches"]
    if batches and args.workers == 1:
        print(
            f"batching    {(after['documents'] - before['documents']) / batches:.1f} articles per model call on average"
        )
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
