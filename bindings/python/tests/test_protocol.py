# SPDX-License-Identifier: BSD-3-Clause
"""Description: messages survive packing and parsing: requests (alone, back
to back, with a newer kernel's longer header, malformed), replies, poll
notifications, register and mmap reply structs."""
from __future__ import annotations

import errno
import sys
import unittest

from fusd import protocol, uapi


class TestRequests(unittest.TestCase):
    def test_round_trip(self) -> None:
        raw = protocol.pack_request(uapi.FUSD_OP_WRITE, 9, 3, pid=11, tgid=10, uid=1000,
                                    gid=100, f_flags=0o2, flags=uapi.FUSD_REQ_COMPAT,
                                    u=protocol.pack_u("rw", 5, 4), payload=b"abcd")
        self.assertEqual(len(raw), 84)
        (req,) = protocol.parse_requests(raw)
        self.assertEqual((req.opcode, req.id, req.fh, req.pid, req.tgid, req.uid, req.gid),
                         (uapi.FUSD_OP_WRITE, 9, 3, 11, 10, 1000, 100))
        self.assertEqual((req.size, req.hdr_size, req.f_flags, req.flags), (84, 80, 2, 1))
        self.assertEqual(req.u.rw, (5, 4))
        self.assertEqual(req.u.rw.offset, 5)
        self.assertEqual(req.payload, b"abcd")

    def test_union_members(self) -> None:
        def u(member: str, *v: int) -> protocol.RequestUnion:
            return protocol.RequestUnion(protocol.pack_u(member, *v))

        self.assertEqual(u("seek", -3, 1, 0, 77).seek, (-3, 1, 0, 77))
        self.assertEqual(u("ioctl", 0xC0044701, 0, 0xDEAD, 4).ioctl.arg, 0xDEAD)
        self.assertEqual(u("fsync", 1, 0).fsync.datasync, 1)
        self.assertEqual(u("interrupt", 2**64 - 1).interrupt.id, 2**64 - 1)
        self.assertEqual(u("reopen", 12, 99).reopen, (12, 99))
        self.assertEqual(u("mmap", 4096, 8192, 3, 1).mmap, (4096, 8192, 3, 1))

    def test_batch(self) -> None:
        batch = b"".join([
            protocol.pack_request(uapi.FUSD_OP_OPEN, 1, 1),
            protocol.pack_request(uapi.FUSD_OP_WRITE, 2, 1, payload=b"x" * 1000,
                                  u=protocol.pack_u("rw", 0, 1000)),
            protocol.pack_request(uapi.FUSD_OP_READ, 3, 1, u=protocol.pack_u("rw", 0, 10)),
        ])
        reqs = list(protocol.parse_requests(batch))
        self.assertEqual([r.id for r in reqs], [1, 2, 3])
        self.assertEqual(len(reqs[1].payload), 1000)
        self.assertEqual(reqs[2].payload, b"")
        # Only the first 'length' bytes count (a reused read buffer).
        buf = bytearray(batch) + bytearray(500)
        self.assertEqual(len(list(protocol.parse_requests(buf, len(batch)))), 3)

    def test_longer_header_of_a_newer_kernel(self) -> None:
        raw = protocol.pack_request(uapi.FUSD_OP_WRITE, 5, 2, payload=b"data",
                                    u=protocol.pack_u("rw", 0, 4), hdr_size=96)
        raw += protocol.pack_request(uapi.FUSD_OP_READ, 6, 2, u=protocol.pack_u("rw", 0, 1))
        reqs = list(protocol.parse_requests(raw))
        self.assertEqual(reqs[0].hdr_size, 96)
        self.assertEqual(reqs[0].payload, b"data")
        self.assertEqual(reqs[1].id, 6)

    def test_malformed(self) -> None:
        good = protocol.pack_request(uapi.FUSD_OP_OPEN, 1, 1)
        with self.assertRaises(protocol.ProtocolError):
            list(protocol.parse_requests(good[:40]))
        short_hdr = bytearray(good)
        short_hdr[4:6] = (40).to_bytes(2, sys.byteorder)
        with self.assertRaises(protocol.ProtocolError):
            list(protocol.parse_requests(bytes(short_hdr)))
        # The requests before a fault are still yielded.
        it = protocol.parse_requests(good + good[:20])
        self.assertEqual(next(it).id, 1)
        with self.assertRaises(protocol.ProtocolError):
            next(it)


class TestReplies(unittest.TestCase):
    def test_reply(self) -> None:
        raw = protocol.pack_reply(77, 3, b"abc", offset=10, flags=uapi.FUSD_REPLY_SET_OFFSET)
        self.assertEqual(len(raw), 59)
        (r,) = protocol.parse_messages(raw)
        assert isinstance(r, protocol.Reply)
        self.assertEqual((r.size, r.hdr_size, r.opcode, r.id), (59, 56, uapi.FUSD_OP_REPLY, 77))
        self.assertEqual((r.result, r.offset, r.flags, r.poll_mask, r.cookie, r.reserved),
                         (3, 10, uapi.FUSD_REPLY_SET_OFFSET, 0, 0, 0))
        self.assertEqual(r.payload, b"abc")

    def test_error_reply(self) -> None:
        (r,) = protocol.parse_messages(protocol.pack_reply(5, -errno.ENOTTY))
        self.assertEqual(r.result, -errno.ENOTTY)

    def test_notify_poll(self) -> None:
        raw = protocol.pack_notify_poll(4, uapi.EPOLLIN | uapi.EPOLLOUT)
        self.assertEqual(len(raw), 48)
        (n,) = protocol.parse_messages(raw)
        assert isinstance(n, protocol.NotifyPoll)
        self.assertEqual((n.opcode, n.id, n.fh, n.mask, n.reserved0, n.reserved),
                         (uapi.FUSD_OP_NOTIFY_POLL, 0, 4, 5, 0, bytes(16)))

    def test_mixed(self) -> None:
        raw = protocol.pack_reply(1, 0) + protocol.pack_notify_poll(1, 1) + protocol.pack_reply(2, 1, b"z")
        self.assertEqual([type(m).__name__ for m in protocol.parse_messages(raw)],
                         ["Reply", "NotifyPoll", "Reply"])
        self.assertEqual(protocol.split_messages(raw), [(0, 56), (56, 48), (104, 57)])

    def test_mmap_reply(self) -> None:
        raw = protocol.pack_mmap_reply_fd(7, 8192)
        d = uapi.MMAP_REPLY.unpack(raw)
        self.assertEqual((d["addr"], d["length"], d["offset"], d["fd"], d["flags"]),
                         (0, 0, 8192, 7, uapi.FUSD_MMAP_FD))


class TestRegister(unittest.TestCase):
    def test_round_trip(self) -> None:
        buf = protocol.pack_register("/dev/echo", 0o640, uapi.FUSD_REGISTER_POLL,
                                     clazz="misc", features=3, grace_ms=500, resend=1 << 3)
        self.assertEqual(len(buf), 448)
        d = protocol.unpack_register(buf)
        self.assertEqual((d["size"], d["major"], d["minor"], d["mode"], d["flags"]),
                         (448, 1, uapi.FUSD_PROTO_MINOR, 0o640, uapi.FUSD_REGISTER_POLL))
        self.assertEqual((d["name"], d["devname"], d["clazz"]), ("/dev/echo", "", "misc"))
        self.assertEqual((d["features"], d["grace_ms"], d["resend"], d["reserved"]),
                         (3, 500, 8, 0))

    def test_name_too_long(self) -> None:
        with self.assertRaises(OSError) as cm:
            protocol.pack_register("x" * 128)
        self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
        self.assertEqual(len(protocol.pack_register("x" * 127)), 448)


if __name__ == "__main__":
    unittest.main()
