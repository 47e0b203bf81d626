# SPDX-License-Identifier: BSD-3-Clause
"""A fake channel for tests: a SOCK_SEQPACKET socketpair stands in for
/dev/fusd/control.  The test plays the kernel on one end (sends packed
requests, reads what the device wrote); the device serves the other."""
from __future__ import annotations

import os
import socket
import unittest
from typing import List, Optional, Union

from fusd import protocol, uapi
from fusd.device import Device
from fusd.protocol import NotifyPoll, Reply

Message = Union[Reply, NotifyPoll]


class FakeChannel:
    """The kernel's end of a device's channel."""

    def __init__(self, device: Device, features: int = uapi.FUSD_FEATURE_REPLY_POLL,
                 minor: int = uapi.FUSD_PROTO_MINOR) -> None:
        self.kernel, self.daemon = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.kernel.setblocking(False)
        self.device = device
        self.next_id = 1
        self.next_fh = 1
        device.attach(self.daemon.detach(), features=features, minor=minor)

    def close(self) -> None:
        self.device.close()
        self.kernel.close()

    # -- kernel -> daemon --------------------------------------------------

    def request(self, opcode: int, fh: int = 0, *, id: Optional[int] = None,
                **kw: object) -> bytes:
        """A packed request with the next id (or 'id')."""
        if id is None:
            id = self.next_id
            self.next_id += 1
        kw.setdefault("tgid", 4242)
        kw.setdefault("pid", 4243)
        kw.setdefault("uid", 1000)
        kw.setdefault("gid", 100)
        return protocol.pack_request(opcode, id, fh, **kw)  # type: ignore[arg-type]

    def send(self, *requests: bytes) -> None:
        """Queue requests as one read() batch and let the device serve it."""
        self.kernel.send(b"".join(requests))
        assert self.device.process()

    def messages(self) -> List[Message]:
        """Everything the device wrote since the last call."""
        out: List[Message] = []
        while True:
            try:
                data = self.kernel.recv(1 << 20)
            except BlockingIOError:
                return out
            out.extend(protocol.parse_messages(data))

    def writes(self) -> List[bytes]:
        """Each write() the device made since the last call, raw."""
        out = []
        while True:
            try:
                out.append(self.kernel.recv(1 << 20))
            except BlockingIOError:
                return out

    # -- shortcuts ------------------------------------------------------------

    def open(self, f_flags: int = os.O_RDWR) -> int:
        """OPEN a new file; returns its fh (the answer must be 0)."""
        fh = self.next_fh
        self.next_fh += 1
        self.send(self.request(uapi.FUSD_OP_OPEN, fh, f_flags=f_flags))
        replies = [m for m in self.messages() if isinstance(m, Reply)]
        assert len(replies) == 1 and replies[0].result == 0, replies
        return fh

    def one_reply(self, tc: unittest.TestCase) -> Reply:
        msgs = self.messages()
        replies = [m for m in msgs if isinstance(m, Reply)]
        tc.assertEqual(len(replies), 1, msgs)
        return replies[0]
