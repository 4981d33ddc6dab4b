"""Dropping work whose client has gone: a request waits for its analysis or for its client to leave.

Why: an analysis nobody will read still costs the model thread seconds that the clients still
waiting need. Starlette does not cancel a handler when its client disconnects, so the handler
listens for the ASGI ``http.disconnect`` message itself while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready; its work was cancelled."""


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it if the client disconnects first.

    Call it once the request body has been read: the next ASGI message is then the disconnect.

    Raises:
        ClientGone: when the client left before ``work`` finished.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (watcher, task):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    if task.cancelled():
        raise ClientGone
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
