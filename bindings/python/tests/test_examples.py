# SPDX-License-Identifier: BSD-3-Clause
"""Description: the echo and gpio examples on a fake channel: echo gives
back the last write from any offset, refuses SEEK_END, makes a read wait
for data (answered by the next write), fails it EAGAIN under O_NONBLOCK
and EINTR when interrupted, and sets poll masks; gpio pins read "0\\n" /
"1\\n", take "1", "low" ..., flag changes with POLLPRI and answer ioctls."""
from __future__ import annotations

import errno
import importlib.util
import os
import struct
import unittest
from types import ModuleType

import fusd
from fusd import protocol, uapi
from fusd.protocol import NotifyPoll, Reply

from fakechan import FakeChannel

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_" + name,
                                                  os.path.join(EXAMPLES, name + ".py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rw(offset: int, size: int) -> bytes:
    return protocol.pack_u("rw", offset, size)


READABLE = fusd.EPOLLIN | fusd.EPOLLRDNORM
WRITABLE = fusd.EPOLLOUT | fusd.EPOLLWRNORM


class TestEcho(unittest.TestCase):
    def setUp(self) -> None:
        self.echo = load("echo").Echo()
        self.chan = FakeChannel(self.echo)

    def tearDown(self) -> None:
        self.chan.close()

    def open(self, f_flags: int = os.O_RDWR) -> Reply:
        c = self.chan
        fh = c.next_fh
        c.next_fh += 1
        c.send(c.request(uapi.FUSD_OP_OPEN, fh, f_flags=f_flags))
        r = c.one_reply(self)
        self.assertEqual(r.result, 0)
        return r

    def test_what_goes_in_comes_out(self) -> None:
        c = self.chan
        r = self.open(os.O_WRONLY)
        self.assertEqual(r.flags, uapi.FUSD_REPLY_POLL)
        self.assertEqual(r.poll_mask, WRITABLE)  # nothing to read yet
        msg = b"what goes in comes out\n"
        c.send(c.request(uapi.FUSD_OP_WRITE, 1, u=rw(0, len(msg)), payload=msg))
        msgs = c.messages()
        replies = [m for m in msgs if isinstance(m, Reply)]
        self.assertEqual(replies[0].result, len(msg))
        # The writer's file is readable now, in the same step as the answer.
        self.assertEqual((replies[0].flags, replies[0].poll_mask),
                         (uapi.FUSD_REPLY_POLL, READABLE | WRITABLE))

        r = self.open(os.O_RDONLY)
        self.assertEqual(r.poll_mask, READABLE | WRITABLE)
        c.send(c.request(uapi.FUSD_OP_READ, 2, u=rw(0, 128)))
        r = c.one_reply(self)
        self.assertEqual((r.result, r.payload), (len(msg), msg))
        c.send(c.request(uapi.FUSD_OP_READ, 2, u=rw(len(msg), 128)))
        self.assertEqual(c.one_reply(self).result, 0)
        c.send(c.request(uapi.FUSD_OP_READ, 2, u=rw(4, 5)))
        self.assertEqual(c.one_reply(self).payload, b" goes")
        c.send(c.request(uapi.FUSD_OP_LLSEEK, 2,
                         u=protocol.pack_u("seek", 0, os.SEEK_END, 0, 9)))
        self.assertEqual(c.one_reply(self).result, -errno.EINVAL)

    def test_blocking_read_waits_for_a_write(self) -> None:
        c = self.chan
        self.open()
        self.open()
        c.send(c.request(uapi.FUSD_OP_READ, 1, id=100, u=rw(0, 64)))
        self.assertEqual(c.messages(), [])  # kept
        c.send(c.request(uapi.FUSD_OP_WRITE, 2, id=101, u=rw(0, 3), payload=b"hi\n"))
        msgs = c.messages()
        replies = {m.id: m for m in msgs if isinstance(m, Reply)}
        self.assertEqual((replies[100].result, replies[100].payload), (3, b"hi\n"))
        self.assertEqual(replies[101].result, 3)
        # The reader's file heard it is readable.
        notes = [m for m in msgs if isinstance(m, NotifyPoll)]
        self.assertEqual([(n.fh, n.mask) for n in notes], [(1, READABLE | WRITABLE)])

    def test_nonblocking_read_is_eagain(self) -> None:
        c = self.chan
        self.open(os.O_RDONLY | os.O_NONBLOCK)
        c.send(c.request(uapi.FUSD_OP_READ, 1, u=rw(0, 64),
                         f_flags=os.O_RDONLY | os.O_NONBLOCK))
        self.assertEqual(c.one_reply(self).result, -errno.EAGAIN)

    def test_interrupted_read_is_eintr(self) -> None:
        c = self.chan
        self.open()
        c.send(c.request(uapi.FUSD_OP_READ, 1, id=200, u=rw(0, 64)))
        c.send(c.request(uapi.FUSD_OP_INTERRUPT, 1, id=201,
                         u=protocol.pack_u("interrupt", 200)))
        r = c.one_reply(self)
        self.assertEqual((r.id, r.result), (200, -errno.EINTR))
        self.assertEqual(self.echo.waiting, [])
        # A later write answers nobody twice.
        c.send(c.request(uapi.FUSD_OP_WRITE, 1, id=202, u=rw(0, 1), payload=b"x"))
        self.assertEqual([m.id for m in c.messages() if isinstance(m, Reply)], [202])


class TestGpio(unittest.TestCase):
    def setUp(self) -> None:
        self.mod = load("gpio")
        self.pins: dict = {}
        self.devs = [self.mod.Pin(self.pins, n) for n in range(2)]
        self.chans = [FakeChannel(d) for d in self.devs]

    def tearDown(self) -> None:
        for c in self.chans:
            c.close()

    def test_set_and_read(self) -> None:
        c0, c1 = self.chans
        fh0 = c0.open()
        fh1 = c1.open()
        c0.send(c0.request(uapi.FUSD_OP_READ, fh0, u=rw(0, 4096)))
        self.assertEqual(c0.one_reply(self).payload, b"0\n")
        c0.send(c0.request(uapi.FUSD_OP_WRITE, fh0, u=rw(0, 2), payload=b"1\n"))
        r = c0.one_reply(self)
        self.assertEqual(r.result, 2)
        self.assertTrue(r.poll_mask & fusd.EPOLLPRI)
        self.assertEqual(self.pins, {0: 1, 1: 0})
        c0.send(c0.request(uapi.FUSD_OP_READ, fh0, u=rw(0, 4096)))
        r = c0.one_reply(self)
        self.assertEqual(r.payload, b"1\n")
        self.assertFalse(r.poll_mask & fusd.EPOLLPRI)  # seen
        c0.send(c0.request(uapi.FUSD_OP_READ, fh0, u=rw(2, 4096)))
        self.assertEqual(c0.one_reply(self).result, 0)
        c1.send(c1.request(uapi.FUSD_OP_WRITE, fh1, u=rw(0, 5), payload=b"high\n"))
        self.assertEqual(c1.one_reply(self).result, 5)
        c1.send(c1.request(uapi.FUSD_OP_WRITE, fh1, u=rw(0, 6), payload=b"maybe\n"))
        self.assertEqual(c1.one_reply(self).result, -errno.EINVAL)
        self.assertEqual(self.pins, {0: 1, 1: 1})

    def test_ioctls(self) -> None:
        c0 = self.chans[0]
        fh = c0.open()
        get, set_ = self.mod.GPIO_GET, self.mod.GPIO_SET
        c0.send(c0.request(uapi.FUSD_OP_IOCTL, fh, u=protocol.pack_u("ioctl", set_, 0, 0, 4),
                           payload=struct.pack("=I", 1)))
        self.assertEqual(c0.one_reply(self).result, 0)
        c0.send(c0.request(uapi.FUSD_OP_IOCTL, fh, u=protocol.pack_u("ioctl", get, 0, 0, 4)))
        r = c0.one_reply(self)
        self.assertEqual((r.result, r.payload), (0, struct.pack("=I", 1)))


if __name__ == "__main__":
    unittest.main()
