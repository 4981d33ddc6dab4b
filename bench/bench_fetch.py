"""Link benchmark: what fetching adds to reading a page, per page, against a local server.

Run on purpose (never in CI):

    python bench/bench_fetch.py                # 100 PTC articles served as HTML pages, 3 rounds

Each PTC article is wrapped in an HTML page and served by a local HTTP server (as the tests do),
then read two ways: from bytes already in memory (decoding and trafilatura's extraction only) and
through ``read_url`` (address check, HTTP, decoding, extraction). The difference is the fetch
itself on loopback; on the internet, network latency adds to it. Medians over the rounds.
"""

from __future__ import annotations

import argparse
import html
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package holds the page server
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptc" / "train-articles"


def pages(data: Path, n: int) -> dict[str, bytes]:
    """``/articleID.html`` -> an HTML page holding that article's paragraphs."""
    out = {}
    for path in sorted(data.glob("*.txt"))[:n]:
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n") if p.strip())
        page = f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body><article>{paragraphs}</article></body></html>"
        out[f"/{path.stem}.html"] = page.encode("utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from propscan.readers.fetch import FetchPolicy, parse_networks
    from propscan.readers.ingest import decode_html, from_html, read_url
    from tests import page_server

    served = pages(args.data, args.articles)
    page_server.PAGES.update(
        {path: (200, {"Content-Type": "text/html; charset=utf-8"}, body) for path, body in served.items()}
    )
    policy = FetchPolicy(private=False, allow=parse_networks(["127.0.0.1"]))
    local, fetched = [], []
    with page_server.serving() as base:
        for _ in range(args.rounds):
            started = time.perf_counter()
            for path, body in served.items():
                from_html(decode_html(body, source=path), source=path)
            local.append((time.perf_counter() - started) / len(served))
            started = time.perf_counter()
            for path in served:
                read_url(base + path, policy=policy)
            fetched.append((time.perf_counter() - started) / len(served))
    extract, total = statistics.median(local) * 1000, statistics.median(fetched) * 1000
    print(
        f"{len(served)} pages, mean {sum(map(len, served.values())) / len(served) / 1024:.1f} KB, {args.rounds} rounds (medians)"
    )
    for label, ms in (
        ("decode + extract, from memory", extract),
        ("read_url: check, fetch, decode, extract", total),
        ("the fetch itself, on loopback", total - extract),
    ):
        print(f"{label:<42}{ms:6.1f} ms/page")


if __name__ == "__main__":
    main()
