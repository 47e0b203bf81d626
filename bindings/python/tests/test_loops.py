# SPDX-License-Identifier: BSD-3-Clause
"""Description: the selectors loop serves several devices, runs timers
(a call kept and answered by a timer) and ends when the devices close;
the asyncio integration awaits coroutine methods and answers when they
finish, turns their exceptions into errnos, and cancels a coroutine
whose call an INTERRUPT ended."""
from __future__ import annotations

import asyncio
import errno
import socket
import threading
import unittest
from typing import Any, List

import fusd
import fusd.aio
from fusd import protocol, uapi
from fusd.protocol import Reply

from fakechan import FakeChannel


def rw(offset: int, size: int) -> bytes:
    return protocol.pack_u("rw", offset, size)


def wait_reply(chan: FakeChannel, timeout: float = 5.0) -> Reply:
    chan.kernel.settimeout(timeout)
    try:
        data = chan.kernel.recv(1 << 20)
    finally:
        chan.kernel.setblocking(False)
    (r,) = [m for m in protocol.parse_messages(data) if isinstance(m, Reply)]
    return r


class Later(fusd.Device):
    """Answers every read 0.05 s later, from a loop timer."""

    def __init__(self, loop: fusd.Loop, text: bytes) -> None:
        super().__init__()
        self.loop = loop
        self.text = text

    def read(self, file: fusd.File, size: int, offset: int) -> Any:
        call = self.defer()
        self.loop.call_later(0.05, call.answer, self.text[offset:offset + size])
        return call


class TestSelectorsLoop(unittest.TestCase):
    def test_two_devices_and_a_timer(self) -> None:
        loop = fusd.Loop()
        devs = [Later(loop, b"one"), Later(loop, b"two")]
        chans = [FakeChannel(d) for d in devs]
        fhs = [c.open() for c in chans]
        for d in devs:
            loop.add(d)
        for c, fh in zip(chans, fhs):
            c.kernel.send(c.request(uapi.FUSD_OP_READ, fh, id=10, u=rw(0, 10)))
        t = threading.Thread(target=loop.run)
        t.start()
        try:
            self.assertEqual(wait_reply(chans[0]).payload, b"one")
            self.assertEqual(wait_reply(chans[1]).payload, b"two")
        finally:
            for d in devs:
                loop.call_soon_threadsafe(d.close)
            t.join(5)
        self.assertFalse(t.is_alive())  # no device left: run() returned
        self.assertEqual(loop.devices, [])
        for c in chans:
            c.kernel.close()
        loop.close()

    def test_stop(self) -> None:
        loop = fusd.Loop()
        dev = fusd.Device()
        chan = FakeChannel(dev)
        loop.add(dev)
        loop.call_later(0.01, loop.stop)
        loop.run()
        self.assertEqual(loop.devices, [dev])
        chan.close()
        loop.close()

    def test_channel_end_closes_device(self) -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        dev = fusd.Device().attach(b.detach())
        loop = fusd.Loop()
        loop.add(dev)
        a.close()  # the kernel side goes: read() returns 0
        loop.run()
        self.assertTrue(dev.closed)
        loop.close()


class AsyncDev(fusd.Device):
    def __init__(self) -> None:
        super().__init__()
        self.cancelled: List[int] = []

    async def read(self, file: fusd.File, size: int, offset: int) -> Any:
        call = fusd.current_call()
        assert call is not None and call.opcode == uapi.FUSD_OP_READ
        if size == 1:
            raise OSError(errno.ENOSPC, "no")
        if size == 2:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.append(call.id)
                raise
        await asyncio.sleep(0.01)
        return b"async!"[:size]

    def write(self, file: fusd.File, data: bytes, offset: int) -> int:
        return len(data)  # a plain method next to coroutines


class TestAsyncio(unittest.TestCase):
    def test_coroutines(self) -> None:
        dev = AsyncDev()
        chan = FakeChannel(dev)
        fh = chan.open()
        results: List[Reply] = []

        async def main() -> None:
            fusd.aio.attach(dev)
            loop = asyncio.get_running_loop()
            chan.kernel.send(chan.request(uapi.FUSD_OP_READ, fh, id=20, u=rw(0, 10)))
            chan.kernel.send(chan.request(uapi.FUSD_OP_READ, fh, id=21, u=rw(0, 1)))
            chan.kernel.send(chan.request(uapi.FUSD_OP_READ, fh, id=22, u=rw(0, 2)))
            chan.kernel.send(chan.request(uapi.FUSD_OP_WRITE, fh, id=23, u=rw(0, 1),
                                          payload=b"w"))
            await asyncio.sleep(0.05)
            chan.kernel.send(chan.request(uapi.FUSD_OP_INTERRUPT, fh, id=24,
                                          u=protocol.pack_u("interrupt", 22)))
            end = loop.time() + 5
            while len(results) < 4 and loop.time() < end:
                await asyncio.sleep(0.01)
                results.extend(m for m in chan.messages() if isinstance(m, Reply))
            fusd.aio.detach(dev)

        asyncio.run(main())
        got = {r.id: (r.result, r.payload) for r in results}
        self.assertEqual(got, {20: (6, b"async!"), 21: (-errno.ENOSPC, b""),
                               22: (-errno.EINTR, b""), 23: (1, b"")})
        self.assertEqual(dev.cancelled, [22])
        chan.close()

    def test_serve_returns_when_closed(self) -> None:
        dev = AsyncDev()
        chan = FakeChannel(dev)

        async def main() -> None:
            asyncio.get_running_loop().call_later(0.02, dev.close)
            await asyncio.wait_for(fusd.aio.serve(dev), 5)

        asyncio.run(main())
        self.assertTrue(dev.closed)
        chan.kernel.close()

    def test_coroutine_without_aio_is_eio(self) -> None:
        dev = AsyncDev()
        chan = FakeChannel(dev)
        fh = chan.open()
        with self.assertLogs("fusd", "ERROR"):
            chan.send(chan.request(uapi.FUSD_OP_READ, fh, u=rw(0, 4)))
        self.assertEqual(chan.one_reply(self).result, -errno.EIO)
        chan.close()


if __name__ == "__main__":
    unittest.main()
