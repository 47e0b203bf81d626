# SPDX-License-Identifier: BSD-3-Clause
"""asyncio integration: serve devices from an asyncio event loop.

The channel's descriptor is watched with ``loop.add_reader``; methods may
be coroutines (``async def read(...)``): a coroutine is run as a task and
its result (or exception) answers the call when it is done.  An interrupt
that answers the call meanwhile (the default :meth:`fusd.Device.interrupt`
answers -EINTR) cancels the task.

::

    class Slow(fusd.Device):
        async def read(self, file, size, offset):
            await asyncio.sleep(1)
            return b"late\\n"[offset:offset + size]

    asyncio.run(fusd.aio.serve(Slow().register("/dev/slow")))
"""
from __future__ import annotations

import asyncio
import errno
from typing import Any, Awaitable, Optional

from .device import Call, Device


def attach(device: Device, loop: Optional[asyncio.AbstractEventLoop] = None) -> Device:
    """Serve 'device' (registered) from 'loop' (the running one by default).

    Returns the device; :func:`detach` or :meth:`fusd.Device.close` end it.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    if device.fd < 0:
        raise ValueError("device %r has no channel: register it first" % device)
    fd = device.fd

    def spawn(aw: Awaitable[Any], call: Call) -> None:
        # Created while the call is current: the task's context has it.
        task = asyncio.ensure_future(aw, loop=loop)
        call._task = task

        def done(t: "asyncio.Future[Any]") -> None:
            if call.done:
                return
            if t.cancelled():
                call.error(errno.EINTR)
                return
            exc = t.exception()
            if exc is not None:
                call.fail(exc)
            elif t.result() is not call:  # returning the call keeps it
                call.answer(t.result())

        task.add_done_callback(done)

    device._spawn = spawn
    loop.add_reader(fd, device.process)
    device.on_close(lambda d: loop.remove_reader(fd))  # type: ignore[arg-type, union-attr]
    return device


def detach(device: Device, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
    """Stop serving 'device' from 'loop' (it stays registered)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    if device.fd >= 0:
        loop.remove_reader(device.fd)
    device._spawn = None


async def serve(*devices: Device) -> None:
    """Serve 'devices' from the running loop until every one is closed."""
    loop = asyncio.get_running_loop()
    left = set(devices)
    finished: "asyncio.Future[None]" = loop.create_future()

    def closed(d: Device) -> None:
        left.discard(d)
        if not left and not finished.done():
            finished.set_result(None)

    for d in devices:
        attach(d, loop)
        d.on_close(closed)
    if not devices:
        return
    try:
        await finished
    finally:
        for d in devices:
            if not d.closed:
                detach(d, loop)
