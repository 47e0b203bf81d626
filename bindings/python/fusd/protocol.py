# SPDX-License-Identifier: BSD-3-Clause
"""Messages on a fusd channel: parsing requests, packing replies.

Pure functions over bytes, used by :mod:`fusd.device` and usable on their
own (tests, tools, another event loop).  The layouts are those of
:mod:`fusd.uapi`.
"""
from __future__ import annotations

import struct
from typing import Iterator, List, NamedTuple, Optional, Tuple, Union

from . import uapi

Buffer = Union[bytes, bytearray, memoryview]

_HDR = uapi.MSG_HEADER.struct
_REQ = uapi.REQUEST.struct
_REPLY = uapi.REPLY.struct
_NOTIFY = uapi.NOTIFY_POLL.struct
_MMAP_REPLY = uapi.MMAP_REPLY.struct
_U_OFF = uapi.REQUEST.offsets["u"]

# The union members of fusd_request.u, as (struct, tuple type).


class RwArgs(NamedTuple):
    """``u.rw``: READ and WRITE."""

    offset: int
    size: int


class SeekArgs(NamedTuple):
    """``u.seek``: LLSEEK."""

    offset: int
    whence: int
    pad: int
    pos: int


class IoctlArgs(NamedTuple):
    """``u.ioctl``: IOCTL."""

    cmd: int
    pad: int
    arg: int
    size: int


class FsyncArgs(NamedTuple):
    """``u.fsync``: FSYNC."""

    datasync: int
    pad: int


class InterruptArgs(NamedTuple):
    """``u.interrupt``: INTERRUPT."""

    id: int


class ReopenArgs(NamedTuple):
    """``u.reopen``: REOPEN."""

    offset: int
    cookie: int


class MmapArgs(NamedTuple):
    """``u.mmap``: MMAP."""

    offset: int
    length: int
    prot: int
    flags: int


_U_RW = uapi.REQUEST.sub("u.rw").struct
_U_SEEK = uapi.REQUEST.sub("u.seek").struct
_U_IOCTL = uapi.REQUEST.sub("u.ioctl").struct
_U_FSYNC = uapi.REQUEST.sub("u.fsync").struct
_U_INTR = uapi.REQUEST.sub("u.interrupt").struct
_U_REOPEN = uapi.REQUEST.sub("u.reopen").struct
_U_MMAP = uapi.REQUEST.sub("u.mmap").struct


class RequestUnion:
    """``fusd_request.u``: each member decoded when asked for."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        #: The 32 bytes of the union.
        self.raw = raw

    @property
    def rw(self) -> RwArgs:
        return RwArgs(*_U_RW.unpack_from(self.raw))

    @property
    def seek(self) -> SeekArgs:
        return SeekArgs(*_U_SEEK.unpack_from(self.raw))

    @property
    def ioctl(self) -> IoctlArgs:
        return IoctlArgs(*_U_IOCTL.unpack_from(self.raw))

    @property
    def fsync(self) -> FsyncArgs:
        return FsyncArgs(*_U_FSYNC.unpack_from(self.raw))

    @property
    def interrupt(self) -> InterruptArgs:
        return InterruptArgs(*_U_INTR.unpack_from(self.raw))

    @property
    def reopen(self) -> ReopenArgs:
        return ReopenArgs(*_U_REOPEN.unpack_from(self.raw))

    @property
    def mmap(self) -> MmapArgs:
        return MmapArgs(*_U_MMAP.unpack_from(self.raw))


class Request:
    """One request read from a channel (struct fusd_request + payload)."""

    __slots__ = (
        "size", "hdr_size", "opcode", "id", "fh", "pid", "tgid", "uid", "gid",
        "f_flags", "flags", "u", "payload",
    )

    def __init__(self, size: int, hdr_size: int, opcode: int, id: int, fh: int,
                 pid: int, tgid: int, uid: int, gid: int, f_flags: int, flags: int,
                 u: bytes, payload: bytes = b"") -> None:
        self.size = size  #: hdr.size: header + payload
        self.hdr_size = hdr_size  #: hdr.hdr_size: where the payload starts
        self.opcode = opcode  #: hdr.opcode, FUSD_OP_*
        self.id = id  #: hdr.id: a reply echoes it
        self.fh = fh  #: open-file handle
        self.pid = pid  #: caller's thread id
        self.tgid = tgid  #: caller's process id
        self.uid = uid  #: caller's fsuid
        self.gid = gid  #: caller's fsgid
        self.f_flags = f_flags  #: O_* flags of the caller's open file
        self.flags = flags  #: FUSD_REQ_*
        self.u = RequestUnion(u)  #: the union, decoded on demand
        self.payload = payload  #: bytes after the header (WRITE data, ioctl input)

    def __repr__(self) -> str:
        return "Request(%s id=%d fh=%d size=%d)" % (
            uapi.OPCODE_NAMES.get(self.opcode, str(self.opcode)), self.id, self.fh,
            len(self.payload))


class ProtocolError(ValueError):
    """Bytes from the channel that are not a well-formed request."""


def parse_requests(buf: Buffer, length: Optional[int] = None) -> Iterator[Request]:
    """Walk the requests of one read() batch in 'buf' (first 'length' bytes).

    Messages are walked with ``hdr.size`` and ``hdr.hdr_size``, never with
    a fixed size, so that a newer kernel's longer header is accepted (the
    part this module knows is used).  Raises :class:`ProtocolError` for a
    malformed batch, after yielding the requests before the fault.
    """
    mv = memoryview(buf)
    end = len(mv) if length is None else length
    off = 0
    while off < end:
        left = end - off
        if left < _HDR.size:
            raise ProtocolError("truncated header at %d of %d" % (off, end))
        size, hdr_size, _op, _id = _HDR.unpack_from(mv, off)
        if hdr_size < _REQ.size or size < hdr_size or size > left:
            raise ProtocolError("bad request sizes (size %d, hdr_size %d, %d left)"
                                % (size, hdr_size, left))
        f = _REQ.unpack_from(mv, off)
        payload = bytes(mv[off + hdr_size:off + size]) if size > hdr_size else b""
        yield Request(*f, payload=payload)
        off += size


def pack_request(opcode: int, id: int, fh: int = 0, *, pid: int = 0, tgid: int = 0,
                 uid: int = 0, gid: int = 0, f_flags: int = 0, flags: int = 0,
                 u: bytes = b"", payload: bytes = b"", hdr_size: Optional[int] = None) -> bytes:
    """A request as the kernel sends it (for tests and fake channels).

    'u' is the packed union (see :func:`pack_u`); 'hdr_size' may exceed
    the struct to imitate a newer kernel (the extra bytes are zero).
    """
    hs = _REQ.size if hdr_size is None else hdr_size
    head = _REQ.pack(hs + len(payload), hs, opcode, id, fh, pid, tgid, uid, gid,
                     f_flags, flags, u.ljust(32, b"\0"))
    return head + b"\0" * (hs - _REQ.size) + payload


def pack_u(member: str, *values: int) -> bytes:
    """Pack member 'member' of fusd_request.u (``"rw"``, ``"seek"`` ...)."""
    s = {
        "rw": _U_RW, "seek": _U_SEEK, "ioctl": _U_IOCTL, "fsync": _U_FSYNC,
        "interrupt": _U_INTR, "reopen": _U_REOPEN, "mmap": _U_MMAP,
    }[member]
    return s.pack(*values).ljust(32, b"\0")


def pack_reply(id: int, result: int, data: Buffer = b"", *, offset: int = 0,
               flags: int = 0, poll_mask: int = 0, cookie: int = 0) -> bytes:
    """A struct fusd_reply answering request 'id', followed by 'data'."""
    n = len(data)
    head = _REPLY.pack(_REPLY.size + n, _REPLY.size, uapi.FUSD_OP_REPLY, id, result,
                       offset, flags, poll_mask, cookie, 0)
    return head + bytes(data) if n else head


class Reply(NamedTuple):
    """A parsed struct fusd_reply (for tests and fake channels)."""

    size: int
    hdr_size: int
    opcode: int
    id: int
    result: int
    offset: int
    flags: int
    poll_mask: int
    cookie: int
    reserved: int
    payload: bytes


class NotifyPoll(NamedTuple):
    """A parsed struct fusd_notify_poll."""

    size: int
    hdr_size: int
    opcode: int
    id: int
    fh: int
    mask: int
    reserved0: int
    reserved: bytes


def pack_notify_poll(fh: int, mask: int) -> bytes:
    """A struct fusd_notify_poll setting the poll mask of open file 'fh'."""
    return _NOTIFY.pack(_NOTIFY.size, _NOTIFY.size, uapi.FUSD_OP_NOTIFY_POLL, 0, fh,
                        mask, 0, b"")


def parse_messages(buf: Buffer) -> List[Union[Reply, NotifyPoll]]:
    """Walk daemon -> kernel messages (replies, notifications) in 'buf'."""
    mv = memoryview(buf)
    out: List[Union[Reply, NotifyPoll]] = []
    off = 0
    while off < len(mv):
        size, hdr_size, op, _id = _HDR.unpack_from(mv, off)
        if size < hdr_size or off + size > len(mv) or size < _HDR.size:
            raise ProtocolError("bad message at %d" % off)
        if op == uapi.FUSD_OP_REPLY:
            f = _REPLY.unpack_from(mv, off)
            out.append(Reply(*f, payload=bytes(mv[off + hdr_size:off + size])))
        elif op == uapi.FUSD_OP_NOTIFY_POLL:
            out.append(NotifyPoll(*_NOTIFY.unpack_from(mv, off)))
        else:
            raise ProtocolError("unknown opcode %#x at %d" % (op, off))
        off += size
    return out


def message_size(buf: Buffer, offset: int = 0) -> int:
    """``hdr.size`` of the message at 'offset'."""
    return struct.unpack_from("=I", buf, offset)[0]


def pack_mmap_reply_fd(fd: int, offset: int) -> bytes:
    """The payload of a successful MMAP reply naming a memfd ('fd', 'offset')."""
    return _MMAP_REPLY.pack(0, 0, offset, fd, uapi.FUSD_MMAP_FD, b"")


def pack_register(name: str, mode: int = 0o666, flags: int = 0, *, devname: str = "",
                  clazz: str = "", features: int = 0, grace_ms: int = 0,
                  resend: int = 0, minor: int = uapi.FUSD_PROTO_MINOR) -> bytearray:
    """A struct fusd_register for FUSD_IOC_REGISTER (a mutable buffer).

    Raises :class:`OSError` (ENAMETOOLONG) when a name does not fit.
    """
    fields = {}
    for key, s in (("name", name), ("devname", devname), ("clazz", clazz)):
        b = s.encode()
        if len(b) >= uapi.FUSD_NAME_MAX or b"\0" in b:
            import errno as _errno
            raise OSError(_errno.ENAMETOOLONG, "%s too long or holding a NUL: %r" % (key, s))
        fields[key] = b
    return bytearray(uapi.REGISTER.pack({
        "size": uapi.REGISTER.size,
        "major": uapi.FUSD_PROTO_MAJOR,
        "minor": minor,
        "mode": mode,
        "flags": flags,
        "name": fields["name"],
        "devname": fields["devname"],
        "clazz": fields["clazz"],
        "features": features,
        "grace_ms": grace_ms,
        "resend": resend,
    }))


def unpack_register(buf: Buffer) -> dict:
    """A struct fusd_register as a dict (strings decoded)."""
    d = uapi.REGISTER.unpack(buf)
    for key in ("name", "devname", "clazz"):
        d[key] = d[key].split(b"\0", 1)[0].decode(errors="replace")
    return d


def split_messages(buf: Buffer) -> List[Tuple[int, int]]:
    """(offset, size) of each whole message in 'buf' (daemon -> kernel)."""
    out = []
    off = 0
    while off + _HDR.size <= len(buf):
        size = message_size(buf, off)
        if size < _HDR.size or off + size > len(buf):
            break
        out.append((off, size))
        off += size
    return out
