# SPDX-License-Identifier: BSD-3-Clause
"""The kernel/user wire protocol of fusd, from include/uapi/linux/fusd.h.

Every constant and struct layout the binding needs lives here, transcribed
from the UAPI header (protocol 1.4).  The structs are declared member by
member, as in C, and their offsets, sizes and :mod:`struct` formats are
computed from those declarations with the C rules of natural alignment.
:func:`layout` returns what was computed so that a test can compare it with
what a C compiler makes of the header itself: the two can never drift
apart unnoticed.

Byte order and type sizes are the host's (``=`` in :mod:`struct`), as the
kernel's: a daemon always runs on the machine whose kernel it talks to.

ioctl numbers are computed as the kernel's ``_IOC`` macros do, with the
encoding of the running architecture (see :func:`ioc`).
"""
from __future__ import annotations

import platform
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

# --------------------------------------------------------------------------
# Versions, names, limits
# --------------------------------------------------------------------------

FUSD_PROTO_MAJOR = 1
FUSD_PROTO_MINOR = 4

#: Path of the control node, relative to /dev.
FUSD_CONTROL_NAME = "fusd/control"
#: Absolute path of the control node.
FUSD_CONTROL_PATH = "/dev/" + FUSD_CONTROL_NAME

#: Longest device name, including the terminating NUL.
FUSD_NAME_MAX = 128
#: Most payload bytes one read or write request carries by default.
FUSD_IO_MAX = 128 * 1024
#: Room for a request's header: a read buffer of io_max + this holds any.
FUSD_MSG_HDR_ROOM = 4096
#: A daemon read buffer of this size always holds the next request.
FUSD_MSG_MAX = FUSD_IO_MAX + FUSD_MSG_HDR_ROOM
#: Largest errno a reply may carry (-result).
FUSD_ERRNO_MAX = 511

# --------------------------------------------------------------------------
# Opcodes and flags
# --------------------------------------------------------------------------

# Request opcodes (fusd_msg_header.opcode, kernel -> daemon).
FUSD_OP_OPEN = 1
FUSD_OP_RELEASE = 2
FUSD_OP_READ = 3
FUSD_OP_WRITE = 4
FUSD_OP_LLSEEK = 5
FUSD_OP_IOCTL = 6
FUSD_OP_POLL = 7
FUSD_OP_FLUSH = 8
FUSD_OP_FSYNC = 9
FUSD_OP_MMAP = 10
FUSD_OP_INTERRUPT = 11
FUSD_OP_REOPEN = 12

# Daemon -> kernel opcodes.
FUSD_OP_REPLY = 0x100
FUSD_OP_NOTIFY_POLL = 0x101

#: Names of the opcodes, for messages and debugging.
OPCODE_NAMES: Dict[int, str] = {
    FUSD_OP_OPEN: "OPEN",
    FUSD_OP_RELEASE: "RELEASE",
    FUSD_OP_READ: "READ",
    FUSD_OP_WRITE: "WRITE",
    FUSD_OP_LLSEEK: "LLSEEK",
    FUSD_OP_IOCTL: "IOCTL",
    FUSD_OP_POLL: "POLL",
    FUSD_OP_FLUSH: "FLUSH",
    FUSD_OP_FSYNC: "FSYNC",
    FUSD_OP_MMAP: "MMAP",
    FUSD_OP_INTERRUPT: "INTERRUPT",
    FUSD_OP_REOPEN: "REOPEN",
    FUSD_OP_REPLY: "REPLY",
    FUSD_OP_NOTIFY_POLL: "NOTIFY_POLL",
}

# fusd_request.flags
FUSD_REQ_COMPAT = 1 << 0  #: caller is a 32-bit task
FUSD_REQ_RESENT = 1 << 1  #: read by a previous daemon

# fusd_reply.flags
FUSD_REPLY_SET_OFFSET = 1 << 0  #: 'offset' is the new f_pos
FUSD_REPLY_POLL = 1 << 1  #: 'poll_mask' becomes the file's poll mask
FUSD_REPLY_COOKIE = 1 << 2  #: 'cookie' becomes the file's cookie
FUSD_REPLY_FLAGS_ALL = FUSD_REPLY_SET_OFFSET | FUSD_REPLY_POLL | FUSD_REPLY_COOKIE

# fusd_request.u.mmap.flags
FUSD_MMAP_SHARED = 1 << 0  #: MAP_SHARED, else MAP_PRIVATE

# fusd_mmap_reply.flags
FUSD_MMAP_FD = 1 << 0  #: 'fd' and 'offset' name the memory
FUSD_MMAP_REPLY_FLAGS_ALL = FUSD_MMAP_FD

# fusd_register.flags
FUSD_REGISTER_FLUSH = 1 << 0  #: send FUSD_OP_FLUSH on close()
FUSD_REGISTER_POLL = 1 << 1  #: files start with poll mask 0
FUSD_REGISTER_ATTACH = 1 << 2  #: take over a device (1.4)
FUSD_REGISTER_FLAGS_ALL = FUSD_REGISTER_FLUSH | FUSD_REGISTER_POLL | FUSD_REGISTER_ATTACH

# Feature bits (fusd_register.features, fusd_version.features).
FUSD_FEATURE_REPLY_POLL = 1 << 0  #: FUSD_REPLY_POLL in replies
FUSD_FEATURE_EXCHANGE = 1 << 1  #: FUSD_IOC_EXCHANGE (1.2)
FUSD_FEATURE_IO_MAX = 1 << 2  #: FUSD_IOC_SET_IO_MAX (1.2)
FUSD_FEATURE_MMAP = 1 << 3  #: FUSD_OP_MMAP is sent (1.3)
FUSD_FEATURE_RECOVERY = 1 << 4  #: outlives its channel (1.4)
FUSD_FEATURES_ALL = (
    FUSD_FEATURE_REPLY_POLL
    | FUSD_FEATURE_EXCHANGE
    | FUSD_FEATURE_IO_MAX
    | FUSD_FEATURE_MMAP
    | FUSD_FEATURE_RECOVERY
)

# fusd_exchange.flags
FUSD_EXCHANGE_NONBLOCK = 1 << 0  #: as O_NONBLOCK, this call only
FUSD_EXCHANGE_FLAGS_ALL = FUSD_EXCHANGE_NONBLOCK

# Sizes of old struct versions.
FUSD_REQUEST_SIZE_V1_0 = 80
FUSD_NOTIFY_POLL_SIZE_V1_0 = 48
FUSD_REPLY_SIZE_V1_0 = 56
FUSD_MMAP_REPLY_SIZE_V1_3 = 48
FUSD_REGISTER_SIZE_V1_0 = 448
FUSD_VERSION_SIZE_V1_0 = 8
FUSD_EXCHANGE_SIZE_V1_2 = 56

# --------------------------------------------------------------------------
# Struct declarations, as in C
# --------------------------------------------------------------------------

# A member is (name, type): type is a scalar name, (scalar, count) for an
# array, or a _Struct/_Union for a nested aggregate.

_SCALARS: Dict[str, str] = {
    "__u8": "B",
    "__u16": "H",
    "__u32": "I",
    "__u64": "Q",
    "__s32": "i",
    "__s64": "q",
    "char": "s",
}

_Type = Union[str, Tuple[str, int], "_Struct", "_Union"]


@dataclass(frozen=True)
class _Struct:
    """A C struct: members in order."""

    members: Tuple[Tuple[str, _Type], ...]


@dataclass(frozen=True)
class _Union:
    """A C union: every member at offset 0."""

    members: Tuple[Tuple[str, _Type], ...]


def _struct(*members: Tuple[str, _Type]) -> _Struct:
    return _Struct(tuple(members))


def _union(*members: Tuple[str, _Type]) -> _Union:
    return _Union(tuple(members))


def _size_align(t: _Type) -> Tuple[int, int]:
    """sizeof and alignof of a declared type, by the C rules."""
    if isinstance(t, str):
        n = struct.calcsize("=" + ("c" if t == "char" else _SCALARS[t]))
        return n, n
    if isinstance(t, tuple):
        n, a = _size_align(t[0])
        return n * t[1], a
    align = 1
    size = 0
    for _name, m in t.members:
        msize, malign = _size_align(m)
        align = max(align, malign)
        if isinstance(t, _Struct):
            size = _round_up(size, malign) + msize
        else:
            size = max(size, msize)
    return _round_up(size, align), align


def _round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


_MSG_HEADER = _struct(
    ("size", "__u32"),
    ("hdr_size", "__u16"),
    ("opcode", "__u16"),
    ("id", "__u64"),
)

_REQUEST = _struct(
    ("hdr", _MSG_HEADER),
    ("fh", "__u64"),
    ("pid", "__u32"),
    ("tgid", "__u32"),
    ("uid", "__u32"),
    ("gid", "__u32"),
    ("f_flags", "__u32"),
    ("flags", "__u32"),
    (
        "u",
        _union(
            ("rw", _struct(("offset", "__s64"), ("size", "__u64"))),
            (
                "seek",
                _struct(
                    ("offset", "__s64"),
                    ("whence", "__u32"),
                    ("pad", "__u32"),
                    ("pos", "__s64"),
                ),
            ),
            (
                "ioctl",
                _struct(
                    ("cmd", "__u32"),
                    ("pad", "__u32"),
                    ("arg", "__u64"),
                    ("size", "__u64"),
                ),
            ),
            ("fsync", _struct(("datasync", "__u32"), ("pad", "__u32"))),
            ("interrupt", _struct(("id", "__u64"),)),
            ("reopen", _struct(("offset", "__s64"), ("cookie", "__u64"))),
            (
                "mmap",
                _struct(
                    ("offset", "__u64"),
                    ("length", "__u64"),
                    ("prot", "__u32"),
                    ("flags", "__u32"),
                ),
            ),
            ("raw", ("__u64", 4)),
        ),
    ),
)

_REPLY = _struct(
    ("hdr", _MSG_HEADER),
    ("result", "__s64"),
    ("offset", "__s64"),
    ("flags", "__u32"),
    ("poll_mask", "__u32"),
    ("cookie", "__u64"),
    ("reserved", "__u64"),
)

_NOTIFY_POLL = _struct(
    ("hdr", _MSG_HEADER),
    ("fh", "__u64"),
    ("mask", "__u32"),
    ("reserved0", "__u32"),
    ("reserved", ("__u64", 2)),
)

_MMAP_REPLY = _struct(
    ("addr", "__u64"),
    ("length", "__u64"),
    ("offset", "__u64"),
    ("fd", "__s32"),
    ("flags", "__u32"),
    ("reserved", ("__u64", 2)),
)

_REGISTER = _struct(
    ("size", "__u32"),
    ("major", "__u16"),
    ("minor", "__u16"),
    ("mode", "__u32"),
    ("flags", "__u32"),
    ("name", ("char", FUSD_NAME_MAX)),
    ("devname", ("char", FUSD_NAME_MAX)),
    ("clazz", ("char", FUSD_NAME_MAX)),
    ("dev_major", "__u32"),
    ("dev_minor", "__u32"),
    ("io_max", "__u32"),
    ("reserved0", "__u32"),
    ("features", "__u64"),
    ("supported", "__u64"),
    ("grace_ms", "__u32"),
    ("resend", "__u32"),
    ("reserved", "__u64"),
)

_COPY = _struct(
    ("id", "__u64"),
    ("caller_addr", "__u64"),
    ("buf", "__u64"),
    ("len", "__u64"),
)

_VERSION = _struct(
    ("major", "__u16"),
    ("minor", "__u16"),
    ("reserved", "__u32"),
    ("features", "__u64"),
)

_EXCHANGE = _struct(
    ("out_buf", "__u64"),
    ("out_len", "__u64"),
    ("in_buf", "__u64"),
    ("in_len", "__u64"),
    ("flags", "__u32"),
    ("reserved0", "__u32"),
    ("out_done", "__u64"),
    ("timeout_ms", "__u32"),
    ("reserved1", "__u32"),
)

# --------------------------------------------------------------------------
# Computed layouts
# --------------------------------------------------------------------------


class StructLayout:
    """Offsets, size and a :class:`struct.Struct` of one declared C struct.

    ``offsets`` maps every member, at every depth, to its byte offset:
    ``"hdr"`` and ``"hdr.id"``, ``"u"``, ``"u.rw"`` and ``"u.rw.offset"``;
    an array is one member (``"name"``, ``"reserved"``).

    ``struct`` packs and unpacks the struct as a flat sequence of
    ``fields`` (leaf members, dotted names): scalars as ints, arrays and
    unions as :class:`bytes`, padding as ``x``.  It is exactly ``size``
    bytes.
    """

    def __init__(self, name: str, decl: _Struct) -> None:
        self.name = name
        self.decl = decl
        self.size, self.align = _size_align(decl)
        self.offsets: Dict[str, int] = {}
        self._types: Dict[str, _Type] = {}
        fmt: List[str] = []
        self.fields: List[str] = []
        end = self._walk(decl, "", 0, fmt)
        if end < self.size:
            fmt.append("%dx" % (self.size - end))
        self.format = "=" + "".join(fmt)
        self.struct = struct.Struct(self.format)
        assert self.struct.size == self.size, (name, self.struct.size, self.size)

    def _walk(self, decl: _Struct, prefix: str, base: int, fmt: List[str]) -> int:
        """Record the members of 'decl' at 'base'; returns the end offset."""
        off = base
        for mname, mtype in decl.members:
            msize, malign = _size_align(mtype)
            start = base + _round_up(off - base, malign)
            if start > off:
                fmt.append("%dx" % (start - off))
            path = prefix + mname
            self.offsets[path] = start
            self._types[path] = mtype
            if isinstance(mtype, _Struct):
                self._walk(mtype, path + ".", start, fmt)
            elif isinstance(mtype, _Union):
                for uname, utype in mtype.members:
                    self._record(utype, path + "." + uname, start)
                fmt.append("%ds" % msize)
                self.fields.append(path)
            elif isinstance(mtype, tuple):
                fmt.append("%ds" % msize)
                self.fields.append(path)
            else:
                fmt.append(_SCALARS[mtype])
                self.fields.append(path)
            off = start + msize
        return off

    def _record(self, mtype: _Type, path: str, start: int) -> None:
        """Offsets of a union member and its sub-members (not in 'fields')."""
        self.offsets[path] = start
        self._types[path] = mtype
        if isinstance(mtype, (_Struct, _Union)):
            off = start
            for mname, sub in mtype.members:
                ssize, salign = _size_align(sub)
                if isinstance(mtype, _Struct):
                    pos = start + _round_up(off - start, salign)
                    off = pos + ssize
                else:
                    pos = start
                self._record(sub, path + "." + mname, pos)

    def sub(self, path: str) -> "StructLayout":
        """The layout of the nested struct at 'path' (e.g. ``"u.rw"``)."""
        t = self._types[path]
        if not isinstance(t, _Struct):
            raise TypeError("%s.%s is not a struct" % (self.name, path))
        return StructLayout("%s.%s" % (self.name, path), t)

    def pack(self, values: Optional[Mapping[str, Any]] = None, **kw: Any) -> bytes:
        """Pack from a mapping of dotted field names; absent fields are 0."""
        vals: Dict[str, Any] = dict(values or {})
        vals.update(kw)
        unknown = set(vals) - set(self.fields)
        if unknown:
            raise KeyError("%s has no field(s) %s" % (self.name, sorted(unknown)))
        args = []
        for f in self.fields:
            t = self._types[f]
            default: Any = b"" if isinstance(t, (tuple, _Union)) else 0
            args.append(vals.get(f, default))
        return self.struct.pack(*args)

    def unpack(self, buf: Union[bytes, bytearray, memoryview], offset: int = 0) -> Dict[str, Any]:
        """Unpack into a dict of dotted field names."""
        return dict(zip(self.fields, self.struct.unpack_from(buf, offset)))

    def as_dict(self) -> Dict[str, Any]:
        """``{"size": n, "fields": {name: offset}}``, as :func:`layout` gives."""
        return {"size": self.size, "fields": dict(self.offsets)}

    def __repr__(self) -> str:
        return "StructLayout(%s, size=%d, format=%r)" % (self.name, self.size, self.format)


MSG_HEADER = StructLayout("fusd_msg_header", _MSG_HEADER)
REQUEST = StructLayout("fusd_request", _REQUEST)
REPLY = StructLayout("fusd_reply", _REPLY)
NOTIFY_POLL = StructLayout("fusd_notify_poll", _NOTIFY_POLL)
MMAP_REPLY = StructLayout("fusd_mmap_reply", _MMAP_REPLY)
REGISTER = StructLayout("fusd_register", _REGISTER)
COPY = StructLayout("fusd_copy", _COPY)
VERSION = StructLayout("fusd_version", _VERSION)
EXCHANGE = StructLayout("fusd_exchange", _EXCHANGE)

#: Every struct of the header, by its C name.
STRUCTS: Dict[str, StructLayout] = {
    s.name: s
    for s in (MSG_HEADER, REQUEST, REPLY, NOTIFY_POLL, MMAP_REPLY, REGISTER, COPY, VERSION, EXCHANGE)
}


def layout() -> Dict[str, Dict[str, Any]]:
    """Every struct this module defines, as a C compiler lays it out.

    Returns ``{struct_name: {"size": n, "fields": {member: offset}}}`` with
    the C struct names (``"fusd_request"``) and member names as C spells
    them, nested members dotted: ``"hdr"``, ``"hdr.size"``, ``"u"``,
    ``"u.rw"``, ``"u.rw.offset"``, ``"u.raw"``.  Arrays are one member
    (``"name"``, ``"reserved"``).
    """
    return {name: s.as_dict() for name, s in STRUCTS.items()}


# Every size the header records must be what the declarations give.
assert MSG_HEADER.size == 16
assert REQUEST.size == FUSD_REQUEST_SIZE_V1_0
assert REPLY.size == FUSD_REPLY_SIZE_V1_0
assert NOTIFY_POLL.size == FUSD_NOTIFY_POLL_SIZE_V1_0
assert MMAP_REPLY.size == FUSD_MMAP_REPLY_SIZE_V1_3
assert REGISTER.size == FUSD_REGISTER_SIZE_V1_0
assert EXCHANGE.size == FUSD_EXCHANGE_SIZE_V1_2

# --------------------------------------------------------------------------
# ioctl numbers (the kernel's _IOC macros)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class IocEncoding:
    """How an architecture encodes ioctl numbers (asm/ioctl.h)."""

    sizebits: int
    dirbits: int
    none: int
    read: int
    write: int

    nrbits = 8
    typebits = 8
    nrshift = 0
    typeshift = 8
    sizeshift = 16

    @property
    def dirshift(self) -> int:
        return self.sizeshift + self.sizebits


#: asm-generic/ioctl.h: x86, arm, arm64, riscv, s390, loongarch, ...
IOC_GENERIC = IocEncoding(sizebits=14, dirbits=2, none=0, read=2, write=1)
#: powerpc, mips, sparc, alpha: 13 size bits, 3 direction bits.
IOC_POWERPC = IocEncoding(sizebits=13, dirbits=3, none=1, read=2, write=4)
#: parisc: generic sizes, read and write swapped.
IOC_PARISC = IocEncoding(sizebits=14, dirbits=2, none=0, read=1, write=2)


def ioc_encoding(machine: Optional[str] = None) -> IocEncoding:
    """The ioctl encoding of 'machine' (``platform.machine()`` by default)."""
    m = (machine if machine is not None else platform.machine()).lower()
    if m.startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        return IOC_POWERPC
    if m.startswith("parisc"):
        return IOC_PARISC
    return IOC_GENERIC


#: The running machine's encoding.
IOC_HOST = ioc_encoding()
IOC_NONE = IOC_HOST.none
IOC_READ = IOC_HOST.read
IOC_WRITE = IOC_HOST.write


def ioc(direction: int, type_: int, nr: int, size: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOC(dir, type, nr, size)``."""
    if size >> enc.sizebits:
        raise ValueError("ioctl size %d does not fit in %d bits" % (size, enc.sizebits))
    return (
        (direction << enc.dirshift)
        | (type_ << enc.typeshift)
        | (nr << enc.nrshift)
        | (size << enc.sizeshift)
    )


def io(type_: int, nr: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IO(type, nr)``."""
    return ioc(enc.none, type_, nr, 0, enc)


def ior(type_: int, nr: int, size: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOR(type, nr, size)`` (size in bytes, not a type)."""
    return ioc(enc.read, type_, nr, size, enc)


def iow(type_: int, nr: int, size: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOW(type, nr, size)``."""
    return ioc(enc.write, type_, nr, size, enc)


def iowr(type_: int, nr: int, size: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOWR(type, nr, size)``."""
    return ioc(enc.read | enc.write, type_, nr, size, enc)


def ioc_dir(cmd: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOC_DIR(cmd)``."""
    return (cmd >> enc.dirshift) & ((1 << enc.dirbits) - 1)


def ioc_type(cmd: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOC_TYPE(cmd)``."""
    return (cmd >> enc.typeshift) & ((1 << enc.typebits) - 1)


def ioc_nr(cmd: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOC_NR(cmd)``."""
    return (cmd >> enc.nrshift) & ((1 << enc.nrbits) - 1)


def ioc_size(cmd: int, enc: IocEncoding = IOC_HOST) -> int:
    """``_IOC_SIZE(cmd)``."""
    return (cmd >> enc.sizeshift) & ((1 << enc.sizebits) - 1)


FUSD_IOC_MAGIC = 0xFD

# _IOC_NR of each channel ioctl: the kernel dispatches on these.
FUSD_IOC_NR_REGISTER = 1
FUSD_IOC_NR_VERSION = 2
FUSD_IOC_NR_SET_BATCH = 3
FUSD_IOC_NR_COPY_FROM_CALLER = 4
FUSD_IOC_NR_COPY_TO_CALLER = 5
FUSD_IOC_NR_EXCHANGE = 6
FUSD_IOC_NR_SET_IO_MAX = 7

_U32 = struct.calcsize("=I")


def ioctl_numbers(enc: IocEncoding = IOC_HOST) -> Dict[str, int]:
    """Every FUSD_IOC_* command number under encoding 'enc'."""
    m = FUSD_IOC_MAGIC
    return {
        "FUSD_IOC_REGISTER": iowr(m, FUSD_IOC_NR_REGISTER, REGISTER.size, enc),
        "FUSD_IOC_VERSION": ior(m, FUSD_IOC_NR_VERSION, VERSION.size, enc),
        "FUSD_IOC_SET_BATCH": iow(m, FUSD_IOC_NR_SET_BATCH, _U32, enc),
        "FUSD_IOC_COPY_FROM_CALLER": iow(m, FUSD_IOC_NR_COPY_FROM_CALLER, COPY.size, enc),
        "FUSD_IOC_COPY_TO_CALLER": iow(m, FUSD_IOC_NR_COPY_TO_CALLER, COPY.size, enc),
        "FUSD_IOC_EXCHANGE": iowr(m, FUSD_IOC_NR_EXCHANGE, EXCHANGE.size, enc),
        "FUSD_IOC_SET_IO_MAX": iowr(m, FUSD_IOC_NR_SET_IO_MAX, _U32, enc),
    }


_IOCTLS = ioctl_numbers()
FUSD_IOC_REGISTER: int = _IOCTLS["FUSD_IOC_REGISTER"]
FUSD_IOC_VERSION: int = _IOCTLS["FUSD_IOC_VERSION"]
#: The 8-byte FUSD_IOC_VERSION a 1.0 kernel answers.
FUSD_IOC_VERSION_V1_0: int = ior(FUSD_IOC_MAGIC, FUSD_IOC_NR_VERSION, FUSD_VERSION_SIZE_V1_0)
FUSD_IOC_SET_BATCH: int = _IOCTLS["FUSD_IOC_SET_BATCH"]
FUSD_IOC_COPY_FROM_CALLER: int = _IOCTLS["FUSD_IOC_COPY_FROM_CALLER"]
FUSD_IOC_COPY_TO_CALLER: int = _IOCTLS["FUSD_IOC_COPY_TO_CALLER"]
FUSD_IOC_EXCHANGE: int = _IOCTLS["FUSD_IOC_EXCHANGE"]
FUSD_IOC_SET_IO_MAX: int = _IOCTLS["FUSD_IOC_SET_IO_MAX"]

# --------------------------------------------------------------------------
# Poll bits (linux/eventpoll.h), for fusd_notify_poll.mask
# --------------------------------------------------------------------------

EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDNORM = 0x040
EPOLLRDBAND = 0x080
EPOLLWRNORM = 0x100
EPOLLWRBAND = 0x200
EPOLLMSG = 0x400
EPOLLRDHUP = 0x2000
#: Every bit a poll mask may hold.
EPOLL_BITS_ALL = (
    EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM
    | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP
)

__all__: Sequence[str] = [n for n in dir() if n.isupper() or n in (
    "StructLayout", "IocEncoding", "layout", "ioc", "io", "ior", "iow", "iowr",
    "ioc_dir", "ioc_type", "ioc_nr", "ioc_size", "ioc_encoding", "ioctl_numbers",
)]
