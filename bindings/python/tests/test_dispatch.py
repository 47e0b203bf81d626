# SPDX-License-Identifier: BSD-3-Clause
"""Description: the dispatcher, on a fake channel (a socketpair), answers
each request exactly once with the right id, result and payload: return
values and OSError become results, defaults behave as a driver without
the operation, ioctl data moves by _IOC direction, calls kept with defer()
are answered later (also from another thread), INTERRUPT ends a kept
call (-EINTR) or is sent back (-EAGAIN) for a call not seen yet, poll
masks ride on replies or go as notifications, mmap answers with a memfd,
and a refused message in one write never takes the others with it."""
from __future__ import annotations

import errno
import mmap
import os
import struct
import threading
import unittest
from typing import Any, List
from unittest import mock

import fusd
from fusd import protocol, uapi
from fusd.protocol import NotifyPoll, Reply

from fakechan import FakeChannel

OP = uapi


def rw(offset: int, size: int) -> bytes:
    return protocol.pack_u("rw", offset, size)


class Store(fusd.Device):
    """A small device that records what it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.data = b"hello world"
        self.seen: List[Any] = []
        self.kept: List[fusd.Call] = []

    def open(self, file: fusd.File) -> None:
        self.seen.append(("open", file.fh, file.pid, file.tid, file.uid, file.gid))
        if file.flags & os.O_EXCL:
            raise OSError(errno.EBUSY, "busy")

    def release(self, file: fusd.File) -> None:
        self.seen.append(("release", file.fh))
        raise RuntimeError("release may fail: it is answered anyway")

    def read(self, file: fusd.File, size: int, offset: int) -> Any:
        call = fusd.current_call()
        assert call is not None
        self.seen.append(("read", size, offset, call.pid, call.nonblock))
        if size == 999:
            self.kept.append(self.defer())
            return None
        if size == 998:
            raise ValueError("a bug in the driver")
        if size == 997:
            return b"x" * 998  # more than asked for
        return self.data[offset:offset + size]

    def write(self, file: fusd.File, data: bytes, offset: int) -> Any:
        self.data = data
        return None if len(data) > 2 else 1

    def ioctl(self, file: fusd.File, cmd: int, arg: int, data: bytes) -> Any:
        self.seen.append(("ioctl", cmd, arg, data))
        if cmd == fusd.iowr(ord("T"), 1, 8):
            (v,) = struct.unpack("=Q", data)
            return 5, struct.pack("=Q", v + 1)
        if cmd == fusd.ior(ord("T"), 2, 16):
            return b"short"
        if cmd == fusd.io(ord("T"), 3):
            return arg * 2
        if cmd == fusd.ior(ord("T"), 4, 4):
            return b"too long"
        raise OSError(errno.ENOTTY, "no")

    def fsync(self, file: fusd.File, datasync: bool) -> None:
        self.seen.append(("fsync", datasync))

    def mmap(self, file: fusd.File, offset: int, length: int, prot: int, flags: int) -> Any:
        fd = os.memfd_create("test", os.MFD_CLOEXEC)
        os.ftruncate(fd, offset + length)
        self.seen.append(("mmap", offset, length, prot, flags, fd))
        return fd, offset


class DispatchTest(unittest.TestCase):
    features = uapi.FUSD_FEATURE_REPLY_POLL

    def setUp(self) -> None:
        self.dev = Store()
        self.chan = FakeChannel(self.dev, features=self.features)

    def tearDown(self) -> None:
        self.chan.close()

    def reply(self) -> Reply:
        return self.chan.one_reply(self)


class TestBasics(DispatchTest):
    def test_open_read_write_release(self) -> None:
        c = self.chan
        fh = c.open()
        self.assertEqual(self.dev.seen[0], ("open", fh, 4242, 4243, 1000, 100))
        self.assertIn(fh, self.dev.files)

        c.send(c.request(OP.FUSD_OP_READ, fh, id=50, u=rw(0, 5)))
        r = self.reply()
        self.assertEqual((r.id, r.result, r.payload, r.flags), (50, 5, b"hello", 0))

        c.send(c.request(OP.FUSD_OP_READ, fh, id=51, u=rw(6, 100)))
        r = self.reply()
        self.assertEqual((r.result, r.payload), (5, b"world"))

        c.send(c.request(OP.FUSD_OP_READ, fh, id=52, u=rw(100, 100)))
        r = self.reply()
        self.assertEqual((r.result, r.payload), (0, b""))

        c.send(c.request(OP.FUSD_OP_WRITE, fh, id=53, u=rw(0, 4), payload=b"abcd"))
        r = self.reply()
        self.assertEqual((r.id, r.result, r.payload), (53, 4, b""))
        self.assertEqual(self.dev.data, b"abcd")
        c.send(c.request(OP.FUSD_OP_WRITE, fh, id=54, u=rw(0, 2), payload=b"zz"))
        self.assertEqual(self.reply().result, 1)  # a short write

        with self.assertLogs("fusd", "ERROR"):  # the method raised
            c.send(c.request(OP.FUSD_OP_RELEASE, fh, id=55))
        r = self.reply()
        self.assertEqual((r.id, r.result), (55, 0))
        self.assertNotIn(fh, self.dev.files)
        self.assertIn(("release", fh), self.dev.seen)

    def test_open_refused(self) -> None:
        c = self.chan
        c.send(c.request(OP.FUSD_OP_OPEN, 7, id=9, f_flags=os.O_EXCL))
        r = self.reply()
        self.assertEqual((r.id, r.result), (9, -errno.EBUSY))
        self.assertNotIn(7, self.dev.files)

    def test_batch_answered_in_one_write(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(*[c.request(OP.FUSD_OP_READ, fh, id=100 + i, u=rw(i, 1)) for i in range(5)])
        writes = c.writes()
        self.assertEqual(len(writes), 1)
        replies = protocol.parse_messages(writes[0])
        self.assertEqual([(r.id, r.payload) for r in replies],
                         [(100 + i, b"hello"[i:i + 1]) for i in range(5)])

    def test_errors(self) -> None:
        c = self.chan
        fh = c.open()
        # An exception that is not an OSError: EIO (and logged).
        with self.assertLogs("fusd", "ERROR"):
            c.send(c.request(OP.FUSD_OP_READ, fh, u=rw(0, 998)))
        self.assertEqual(self.reply().result, -errno.EIO)
        # More bytes than asked for: EIO, never an invalid reply.
        with self.assertLogs("fusd", "ERROR"):
            c.send(c.request(OP.FUSD_OP_READ, fh, u=rw(0, 997)))
        r = self.reply()
        self.assertEqual((r.result, r.payload), (-errno.EIO, b""))
        # Defaults: a driver without the operation.
        c.send(c.request(OP.FUSD_OP_FLUSH, fh))
        self.assertEqual(self.reply().result, 0)
        c.send(c.request(OP.FUSD_OP_POLL, fh))
        self.assertEqual(self.reply().result, -errno.ENOSYS)
        c.send(c.request(99, fh))
        self.assertEqual(self.reply().result, -errno.ENOSYS)
        # A RELEASE whose method raised is answered 0 all the same.
        with self.assertLogs("fusd", "ERROR"):
            c.send(c.request(OP.FUSD_OP_RELEASE, fh, id=77))
        r = self.reply()
        self.assertEqual((r.id, r.result), (77, 0))

    def test_defaults_of_a_bare_device(self) -> None:
        dev = fusd.Device()
        chan = FakeChannel(dev)
        try:
            fh = chan.open()
            for op, u, want in (
                (OP.FUSD_OP_READ, rw(0, 10), -errno.EINVAL),
                (OP.FUSD_OP_WRITE, rw(0, 0), -errno.EINVAL),
                (OP.FUSD_OP_IOCTL, protocol.pack_u("ioctl", 0x5401, 0, 0, 0), -errno.ENOTTY),
                (OP.FUSD_OP_FSYNC, protocol.pack_u("fsync", 0, 0), -errno.EINVAL),
                (OP.FUSD_OP_MMAP, protocol.pack_u("mmap", 0, 4096, 1, 1), -errno.ENODEV),
            ):
                chan.send(chan.request(op, fh, u=u))
                self.assertEqual(chan.one_reply(self).result, want, op)
        finally:
            chan.close()

    def test_llseek_default(self) -> None:
        c = self.chan
        fh = c.open()
        for whence, off, pos, want in ((os.SEEK_SET, 7, 3, 7), (os.SEEK_CUR, 2, 9, 11),
                                       (os.SEEK_END, 0, 9, -errno.EINVAL),
                                       (os.SEEK_SET, -1, 0, -errno.EINVAL),
                                       (os.SEEK_CUR, 1, 2**63 - 1, -errno.EOVERFLOW)):
            c.send(c.request(OP.FUSD_OP_LLSEEK, fh,
                             u=protocol.pack_u("seek", off, whence, 0, pos)))
            self.assertEqual(self.reply().result, want, (whence, off, pos))

    def test_fsync_and_credentials(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_FSYNC, fh, u=protocol.pack_u("fsync", 1, 0)))
        self.assertEqual(self.reply().result, 0)
        self.assertEqual(self.dev.seen[-1], ("fsync", True))
        c.send(c.request(OP.FUSD_OP_READ, fh, u=rw(0, 1), tgid=77,
                         f_flags=os.O_RDONLY | os.O_NONBLOCK))
        self.reply()
        self.assertEqual(self.dev.seen[-1], ("read", 1, 0, 77, True))
        self.assertTrue(self.dev.files[fh].nonblock)  # flags follow fcntl()

    def test_newer_kernel_header(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_WRITE, fh, id=31, u=rw(0, 3), payload=b"new",
                         hdr_size=120))
        self.assertEqual(self.reply().result, 3)
        self.assertEqual(self.dev.data, b"new")

    def test_unknown_file(self) -> None:
        c = self.chan
        with self.assertLogs("fusd", "ERROR"):
            c.send(c.request(OP.FUSD_OP_READ, 1234, u=rw(0, 1)))
        self.assertEqual(self.reply().result, -errno.EIO)
        c.send(c.request(OP.FUSD_OP_RELEASE, 1234))
        self.assertEqual(self.reply().result, 0)


class TestIoctl(DispatchTest):
    def ioctl(self, fh: int, cmd: int, arg: int = 0, payload: bytes = b"") -> Reply:
        size = fusd.ioc_size(cmd) if fusd.ioc_dir(cmd) != uapi.IOC_NONE else 0
        self.chan.send(self.chan.request(OP.FUSD_OP_IOCTL, fh,
                                         u=protocol.pack_u("ioctl", cmd, 0, arg, size),
                                         payload=payload))
        return self.reply()

    def test_directions(self) -> None:
        fh = self.chan.open()
        r = self.ioctl(fh, fusd.iowr(ord("T"), 1, 8), 0x1000, struct.pack("=Q", 41))
        self.assertEqual((r.result, r.payload), (5, struct.pack("=Q", 42)))
        self.assertEqual(self.dev.seen[-1][1:], (fusd.iowr(ord("T"), 1, 8), 0x1000,
                                                 struct.pack("=Q", 41)))
        # Less than _IOC_SIZE back: only those bytes are copied.
        r = self.ioctl(fh, fusd.ior(ord("T"), 2, 16))
        self.assertEqual((r.result, r.payload), (0, b"short"))
        self.assertEqual(self.dev.seen[-1][3], b"")
        # _IOC_NONE: arg is a plain integer.
        r = self.ioctl(fh, fusd.io(ord("T"), 3), 21)
        self.assertEqual((r.result, r.payload), (42, b""))
        with self.assertLogs("fusd", "ERROR"):
            r = self.ioctl(fh, fusd.ior(ord("T"), 4, 4))
        self.assertEqual((r.result, r.payload), (-errno.EIO, b""))
        r = self.ioctl(fh, fusd.io(ord("T"), 9))
        self.assertEqual(r.result, -errno.ENOTTY)

    def test_payload_larger_than_size(self) -> None:
        fh = self.chan.open()
        cmd = fusd.iow(ord("T"), 1, 4)
        self.chan.send(self.chan.request(OP.FUSD_OP_IOCTL, fh,
                                         u=protocol.pack_u("ioctl", cmd, 0, 0, 4),
                                         payload=b"12345678"))
        self.assertEqual(self.reply().result, -errno.EIO)


class TestDeferred(DispatchTest):
    def test_answer_later(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_READ, fh, id=60, u=rw(0, 999)))
        self.assertEqual(c.messages(), [])
        (call,) = self.dev.kept
        self.assertEqual([x.id for x in self.dev.pending_calls()], [60])
        self.assertTrue(call.deferred)
        self.assertFalse(call.done)
        self.assertTrue(call.answer(b"late"))
        r = self.reply()
        self.assertEqual((r.id, r.result, r.payload), (60, 4, b"late"))
        self.assertFalse(call.answer(b"twice"))  # answered once only
        self.assertEqual(c.messages(), [])

    def test_answer_from_another_thread(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_READ, fh, id=61, u=rw(0, 999)))
        t = threading.Thread(target=lambda: self.dev.kept[0].error(errno.ETIMEDOUT))
        t.start()
        t.join()
        r = self.reply()
        self.assertEqual((r.id, r.result), (61, -errno.ETIMEDOUT))

    def test_new_offset(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_READ, fh, id=62, u=rw(0, 999)))
        call = self.dev.kept[0]
        call.new_offset = 500
        call.answer(b"ab")
        r = self.reply()
        self.assertEqual((r.result, r.flags, r.offset), (2, uapi.FUSD_REPLY_SET_OFFSET, 500))

    def test_release_ends_kept_calls(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_READ, fh, id=63, u=rw(0, 999)))
        with self.assertLogs("fusd", "ERROR"):
            c.send(c.request(OP.FUSD_OP_RELEASE, fh, id=64))
        replies = [m for m in c.messages() if isinstance(m, Reply)]
        self.assertEqual(sorted((r.id, r.result) for r in replies),
                         [(63, -errno.EINTR), (64, 0)])
        self.assertEqual(self.dev.pending_calls(), [])


class TestInterrupt(DispatchTest):
    def interrupt(self, target: int, id: int) -> None:
        self.chan.send(self.chan.request(OP.FUSD_OP_INTERRUPT, 1, id=id,
                                         u=protocol.pack_u("interrupt", target)))

    def test_kept_call_gets_eintr(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_READ, fh, id=70, u=rw(0, 999)))
        self.interrupt(70, 71)
        r = self.reply()
        self.assertEqual((r.id, r.result), (70, -errno.EINTR))
        self.assertTrue(self.dev.kept[0].interrupted)

    def test_hook_may_answer_otherwise(self) -> None:
        c = self.chan
        fh = c.open()
        seen: List[fusd.Call] = []
        self.dev.interrupt = seen.append  # type: ignore[assignment]
        c.send(c.request(OP.FUSD_OP_READ, fh, id=72, u=rw(0, 999)))
        self.interrupt(72, 73)
        self.assertEqual(c.messages(), [])  # ignored: the caller waits on
        self.assertEqual([x.id for x in seen], [72])
        seen[0].answer(b"real")
        self.assertEqual(self.reply().result, 4)

    def test_not_seen_yet_is_sent_back(self) -> None:
        self.chan.open()  # id 1
        self.interrupt(500, 80)
        r = self.reply()
        self.assertEqual((r.id, r.result), (80, -errno.EAGAIN))

    def test_call_over_is_ignored(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_READ, fh, id=90, u=rw(0, 1)))
        self.reply()
        self.interrupt(90, 91)
        self.assertEqual(c.messages(), [])


class TestPoll(DispatchTest):
    def test_mask_rides_on_the_reply(self) -> None:
        class P(fusd.Device):
            def open(self, file: fusd.File) -> None:
                file.notify_poll(fusd.EPOLLOUT)

        dev = P()
        chan = FakeChannel(dev, features=uapi.FUSD_FEATURE_REPLY_POLL)
        try:
            chan.send(chan.request(OP.FUSD_OP_OPEN, 3))
            msgs = chan.messages()
            self.assertEqual(len(msgs), 1)
            r = msgs[0]
            assert isinstance(r, Reply)
            self.assertEqual((r.result, r.flags, r.poll_mask),
                             (0, uapi.FUSD_REPLY_POLL, fusd.EPOLLOUT))
            # Outside a method: a notification.
            dev.notify_poll(dev.files[3], fusd.EPOLLIN)
            (n,) = chan.messages()
            assert isinstance(n, NotifyPoll)
            self.assertEqual((n.fh, n.mask, n.id), (3, fusd.EPOLLIN, 0))
        finally:
            chan.close()

    def test_without_reply_poll_a_notification_first(self) -> None:
        class P(fusd.Device):
            def open(self, file: fusd.File) -> None:
                file.notify_poll(fusd.EPOLLOUT)

        dev = P()
        chan = FakeChannel(dev, features=0)
        try:
            chan.send(chan.request(OP.FUSD_OP_OPEN, 3, id=5))
            msgs = chan.messages()
            self.assertEqual([type(m).__name__ for m in msgs], ["NotifyPoll", "Reply"])
            self.assertEqual(msgs[1].flags, 0)  # type: ignore[union-attr]
        finally:
            chan.close()

    def test_kept_call_sends_its_mask_now(self) -> None:
        class P(fusd.Device):
            def read(self, file: fusd.File, size: int, offset: int) -> Any:
                file.notify_poll(fusd.EPOLLPRI)
                return self.defer()

        dev = P()
        chan = FakeChannel(dev)
        try:
            fh = chan.open()
            chan.send(chan.request(OP.FUSD_OP_READ, fh, id=40, u=rw(0, 1)))
            (n,) = chan.messages()
            assert isinstance(n, NotifyPoll)
            self.assertEqual(n.mask, fusd.EPOLLPRI)
            dev.pending_calls()[0].answer(b"x")
            r = chan.one_reply(self)
            self.assertEqual((r.id, r.flags), (40, 0))
        finally:
            chan.close()


class TestMmap(DispatchTest):
    def test_memfd_answer(self) -> None:
        c = self.chan
        fh = c.open()
        c.send(c.request(OP.FUSD_OP_MMAP, fh,
                         u=protocol.pack_u("mmap", 8192, 4096, mmap.PROT_READ,
                                           uapi.FUSD_MMAP_SHARED)))
        r = self.reply()
        self.assertEqual(r.result, 0)
        d = uapi.MMAP_REPLY.unpack(r.payload)
        fd = self.dev.seen[-1][5]
        self.assertEqual(self.dev.seen[-1][:5], ("mmap", 8192, 4096, mmap.PROT_READ,
                                                 uapi.FUSD_MMAP_SHARED))
        self.assertEqual((d["fd"], d["offset"], d["flags"], d["length"], d["addr"]),
                         (fd, 8192, uapi.FUSD_MMAP_FD, 0, 0))
        os.close(fd)


class TestWrites(unittest.TestCase):
    """A refused message is skipped, the others all reach the kernel."""

    def test_refused_message_skipped(self) -> None:
        dev = fusd.Device()
        chan = FakeChannel(dev)
        msgs = [protocol.pack_reply(1, 0), protocol.pack_reply(2, 5, b"bad"),
                protocol.pack_reply(3, 0)]
        got: List[bytes] = []

        def kernel_write(fd: int, data: Any) -> int:
            """Consume whole messages up to a bad one, as the kernel does."""
            data = bytes(data)
            done = 0
            for off, size in protocol.split_messages(data):
                m = data[off:off + size]
                if m == msgs[1]:
                    if done:
                        return done
                    raise OSError(errno.EINVAL, "Invalid argument")
                got.append(m)
                done += size
            return done

        try:
            with mock.patch("fusd.device.os.write", kernel_write), \
                    self.assertLogs("fusd", "ERROR") as logs:
                with dev._lock:
                    dev._out.extend(msgs)
                    dev._flush_locked()
            self.assertEqual(got, [msgs[0], msgs[2]])
            self.assertIn("id=2", logs.output[0])
        finally:
            chan.close()


if __name__ == "__main__":
    unittest.main()
