# SPDX-License-Identifier: BSD-3-Clause
"""Devices: subclass :class:`Device`, override its methods, register it.

Every system call a client makes on the device node arrives as a request
on the device's channel; the dispatcher calls the matching method and
turns what it returns (or raises) into the reply::

    class Hello(fusd.Device):
        def read(self, file, size, offset):
            return b"Hello, world!\\n"[offset:offset + size]

    fusd.run(Hello().register("/dev/hello"))

Return values by method:

* ``open``, ``release``, ``flush``, ``fsync``: ``None`` (success).
* ``read``: the bytes read (at most ``size``; ``b""`` is end of file).
* ``write``: the number of bytes taken, ``None`` for all of them.
* ``llseek``: the new position.
* ``ioctl``: ``None``, an int result, the bytes to copy back, or a
  ``(result, bytes)`` pair.
* ``mmap``: a memfd (see :func:`os.memfd_create`) or an ``(fd, offset)``
  pair: the caller's mapping shares its pages.

Raise ``OSError(errno.EXXX, ...)`` to fail a call with that errno (a
negative int return works too).  A method may also keep the call and
answer it later, from anywhere (another thread, a timer, another
request): ``call = self.defer()``, then ``call.answer(value)`` or
``call.error(errno)``.  A method that returns a coroutine is awaited when
the device is served by :mod:`fusd.aio`.

Interrupts: when the caller of a kept call gets a signal, :meth:`Device.
interrupt` is called with it; by default it answers ``-EINTR``.
"""
from __future__ import annotations

import contextvars
import errno
import fcntl
import inspect
import logging
import os
import threading
from typing import (Any, Awaitable, Callable, Dict, Iterable, List, Optional,
                    Tuple, Union)

from . import protocol, uapi
from .protocol import Request

log = logging.getLogger("fusd")

_current: "contextvars.ContextVar[Optional[Call]]" = contextvars.ContextVar(
    "fusd_current_call", default=None)

_INT_MAX = 2**31 - 1

#: What a method may return for MMAP: an fd, or (fd, offset).
MmapAnswer = Union[int, Tuple[int, int]]


def current_call() -> "Optional[Call]":
    """The call whose method runs now (in this thread or asyncio task)."""
    return _current.get()


class File:
    """One open file of a device, from its OPEN to its RELEASE.

    Attributes hold what the OPEN request said: ``fh`` (the kernel's
    handle), ``flags`` (the O_* flags, refreshed by every request, so that
    an fcntl(F_SETFL) of O_NONBLOCK is seen), ``pid`` (process id),
    ``tid``, ``uid`` and ``gid`` of the opener.  ``state`` is free for the
    device's own use (classic FUSD's private_data); any other attribute
    may be set as well.
    """

    def __init__(self, device: "Device", req: Request) -> None:
        self.device = device
        self.fh: int = req.fh
        self.flags: int = req.f_flags
        self.pid: int = req.tgid
        self.tid: int = req.pid
        self.uid: int = req.uid
        self.gid: int = req.gid
        #: The device's own data for this file.
        self.state: Any = None
        #: Cookie the kernel holds for this file (recovery), as last set.
        self.cookie: int = 0
        self.released = False
        self._poll_seq = 0

    @property
    def nonblock(self) -> bool:
        """Was the file opened (or set) O_NONBLOCK?"""
        return bool(self.flags & os.O_NONBLOCK)

    @property
    def accmode(self) -> int:
        """``O_RDONLY``, ``O_WRONLY`` or ``O_RDWR``."""
        return self.flags & os.O_ACCMODE

    def notify_poll(self, mask: int) -> None:
        """Set what poll(), select() and epoll report for this file.

        'mask' holds EPOLL* bits (:mod:`select`'s or :mod:`fusd.uapi`'s).
        See :meth:`Device.notify_poll`.
        """
        self.device.notify_poll(self, mask)

    def calls(self) -> "List[Call]":
        """The calls of this file not answered yet."""
        return self.device.pending_calls(self)

    def __repr__(self) -> str:
        return "File(fh=%d, flags=%#o, pid=%d)" % (self.fh, self.flags, self.pid)


class Call:
    """One request waiting for its answer.

    Attributes: ``id`` and ``opcode`` (FUSD_OP_*), ``file`` (its
    :class:`File`), ``request`` (the parsed :class:`~fusd.protocol.Request`),
    the caller's credentials ``pid`` (process id), ``tid`` (thread id),
    ``uid`` and ``gid``, ``f_flags`` (O_* flags of the caller's file, as
    of this call) and ``flags`` (FUSD_REQ_*).

    A method answers its call by returning; :meth:`defer` keeps it for
    later, and :meth:`answer`, :meth:`reply` or :meth:`error` answer it,
    from any thread.  A call is answered exactly once; later answers are
    ignored (they return False).
    """

    def __init__(self, device: "Device", file: Optional[File], req: Request) -> None:
        self.device = device
        self.file = file
        self.request = req
        self.id: int = req.id
        self.opcode: int = req.opcode
        self.pid: int = req.tgid
        self.tid: int = req.pid
        self.uid: int = req.uid
        self.gid: int = req.gid
        self.f_flags: int = req.f_flags
        self.flags: int = req.flags
        #: True once answered.
        self.done = False
        #: True once kept by :meth:`defer` (or run as a coroutine).
        self.deferred = False
        #: True once its caller got a signal (an INTERRUPT named it).
        self.interrupted = False
        #: Set to an int to store it as the file's cookie with the answer
        #: (FUSD_REPLY_COOKIE; needs FUSD_FEATURE_RECOVERY).
        self.cookie: Optional[int] = None
        #: Set to an int for READ and WRITE: the file position after the
        #: call (FUSD_REPLY_SET_OFFSET); else it advances by the result.
        self.new_offset: Optional[int] = None
        self._in_handler = False
        self._poll: Optional[Tuple[int, int]] = None  # (mask, seq) riding along
        self._task: Any = None  # asyncio task running the method

    # -- properties -------------------------------------------------------

    @property
    def nonblock(self) -> bool:
        """Is the caller's file O_NONBLOCK (for this call)?"""
        return bool(self.f_flags & os.O_NONBLOCK)

    @property
    def compat(self) -> bool:
        """Is the caller a 32-bit task (FUSD_REQ_COMPAT)?"""
        return bool(self.flags & uapi.FUSD_REQ_COMPAT)

    @property
    def resent(self) -> bool:
        """Was this call read by a previous daemon (FUSD_REQ_RESENT)?"""
        return bool(self.flags & uapi.FUSD_REQ_RESENT)

    @property
    def opname(self) -> str:
        """The opcode's name ("READ" ...)."""
        return uapi.OPCODE_NAMES.get(self.opcode, str(self.opcode))

    # -- answering ----------------------------------------------------------

    def defer(self) -> "Call":
        """Keep the call: the method's return value is then ignored, and
        the call is answered later with :meth:`answer`, :meth:`reply` or
        :meth:`error`.  Returns the call itself."""
        self.deferred = True
        return self

    def reply(self, result: int = 0, data: protocol.Buffer = b"", *,
              offset: Optional[int] = None, poll_mask: Optional[int] = None,
              cookie: Optional[int] = None) -> bool:
        """Answer with a raw 'result' (>= 0, or -errno) and payload 'data'.

        'offset' sets the file position (READ and WRITE only), 'poll_mask'
        the file's poll mask in the same step, 'cookie' its recovery
        cookie.  The payload must fit the request: exactly 'result' bytes
        for READ, at most ``u.ioctl.size`` for an ioctl that reads.
        Returns False if the call was answered already.
        """
        return self.device._answer(self, result, data, offset, poll_mask,
                                   self.cookie if cookie is None else cookie)

    def error(self, err: int) -> bool:
        """Fail the call with errno 'err' (positive, e.g. errno.EAGAIN)."""
        return self.reply(-abs(err) if err else -errno.EIO)

    def fail(self, exc: BaseException) -> bool:
        """Fail the call from an exception: OSError's errno, else EIO."""
        return self.reply(self.device._errno_of(self, exc))

    def answer(self, value: Any) -> bool:
        """Answer with 'value' as if the method had returned it."""
        try:
            result, data = self.device._convert(self, value)
        except Exception as exc:  # a value that does not fit the call
            return self.fail(exc)
        offset = self.new_offset if self.opcode in (uapi.FUSD_OP_READ, uapi.FUSD_OP_WRITE) else None
        return self.reply(result, data, offset=offset)

    def __repr__(self) -> str:
        return "Call(%s id=%d fh=%d%s)" % (self.opname, self.id, self.request.fh,
                                         " done" if self.done else "")


class Device:
    """A character device served by this process.

    Subclass it and override the methods below (each default behaves as a
    kernel driver without that operation), then :meth:`register` it and
    serve it with :func:`fusd.run`, a :class:`fusd.Loop` or :mod:`fusd.aio`.

    Class attributes a subclass may set:

    * ``register_poll``: files start with nothing ready (FUSD_REGISTER_POLL)
      and the device sets their masks with :meth:`notify_poll`; otherwise
      they start readable and writable.

    One thread serves a device (its loop); answers to kept calls and poll
    notifications may come from any thread.
    """

    register_poll: bool = False

    def __init__(self) -> None:
        #: The channel (an open /dev/fusd/control), -1 before registration.
        self.fd: int = -1
        #: The node's name as registered.
        self.name: str = ""
        #: Protocol minor version in use on the channel.
        self.minor: int = 0
        #: FUSD_FEATURE_* granted by the kernel.
        self.features: int = 0
        #: FUSD_FEATURE_* the kernel has.
        self.supported: int = 0
        #: Largest READ/WRITE payload of a request.
        self.io_max: int = uapi.FUSD_IO_MAX
        #: Device number of the node.
        self.dev_major = 0
        self.dev_minor = 0
        #: Grace period granted for recovery (ms), 0 if none.
        self.grace_ms = 0
        #: Open files by fh.
        self.files: Dict[int, File] = {}
        self._calls: Dict[int, Call] = {}
        self._lock = threading.RLock()
        self._out: List[bytes] = []
        self._batch_thread: Optional[int] = None
        self._buf = bytearray(0)
        self._max_id = 0
        self._closed_callbacks: List[Callable[["Device"], None]] = []
        #: Runs an awaitable a method returned (set by fusd.aio).
        self._spawn: Optional[Callable[[Awaitable[Any], Call], None]] = None

    # ---------------------------------------------------------------------
    # Methods to override
    # ---------------------------------------------------------------------

    def open(self, file: File) -> Any:
        """A client opened the device.  Raise OSError to refuse."""
        return None

    def release(self, file: File) -> Any:
        """The last close of an open file.  Its answer is not waited for."""
        return None

    def read(self, file: File, size: int, offset: int) -> Any:
        """read() of at most 'size' bytes at 'offset': return bytes."""
        raise OSError(errno.EINVAL, "no read")

    def write(self, file: File, data: bytes, offset: int) -> Any:
        """write() of 'data' at 'offset': return how many bytes were taken."""
        raise OSError(errno.EINVAL, "no write")

    def llseek(self, file: File, offset: int, whence: int, pos: int) -> int:
        """lseek(): 'pos' is the current position; return the new one.

        The default (a device without a size) takes SEEK_SET and SEEK_CUR
        and refuses SEEK_END and anything else with EINVAL.
        """
        if whence == os.SEEK_SET:
            new = offset
        elif whence == os.SEEK_CUR:
            new = pos + offset
            if new > 2**63 - 1 or new < -(2**63):
                raise OSError(errno.EOVERFLOW, "position overflows")
        else:
            raise OSError(errno.EINVAL, "no size to seek from")
        if new < 0:
            raise OSError(errno.EINVAL, "negative position")
        return new

    def ioctl(self, file: File, cmd: int, arg: int, data: bytes) -> Any:
        """ioctl(): 'data' holds the _IOC_SIZE bytes at 'arg' if cmd has
        _IOC_WRITE (else b"").  Return ``(result, out_bytes)``, an int, the
        bytes to copy back (cmd with _IOC_READ, at most _IOC_SIZE), or None.
        """
        raise OSError(errno.ENOTTY, "no ioctl")

    def flush(self, file: File) -> Any:
        """close() of one descriptor; what close() returns.  Overriding
        it registers FUSD_REGISTER_FLUSH."""
        return None

    def fsync(self, file: File, datasync: bool) -> Any:
        """fsync() or fdatasync()."""
        raise OSError(errno.EINVAL, "no fsync")

    def mmap(self, file: File, offset: int, length: int, prot: int, flags: int) -> MmapAnswer:
        """mmap() of 'length' bytes at 'offset' (both page aligned);
        'flags' has FUSD_MMAP_SHARED for MAP_SHARED.  Return a shmem file
        descriptor (a memfd holding at least offset + length bytes) or
        ``(fd, file_offset)``.  Overriding it asks for FUSD_FEATURE_MMAP.
        """
        raise OSError(errno.ENODEV, "no mmap")

    def interrupt(self, call: Call) -> None:
        """The caller of 'call' (kept, not answered yet) got a signal.

        Answer it now (its real result, or -EINTR so that the caller fails
        with EINTR or restarts), or later; a device that ignores the
        interrupt makes the caller wait for the answer as a kernel driver
        that ignores signals would.  The default answers -EINTR.
        """
        call.error(errno.EINTR)

    def reopen(self, file: File, offset: int, cookie: int) -> None:
        """Recovery: an open file the previous daemon had ('offset' is its
        position, 'cookie' what that daemon last set).  Poll masks are
        back to their registration default."""
        return None

    # ---------------------------------------------------------------------
    # Registration
    # ---------------------------------------------------------------------

    def _overrides(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(Device, name)

    def register(self, name: str, mode: int = 0o666, *, devname: str = "",
                 clazz: str = "", flags: int = 0, poll: Optional[bool] = None,
                 flush: Optional[bool] = None, features: Optional[int] = None,
                 grace_ms: int = 0, resend: int = 0,
                 control: str = uapi.FUSD_CONTROL_PATH) -> "Device":
        """Create /dev/'name' and make this object serve it.

        'name' may start with "/dev/"; 'devname' is the sysfs name ("":
        derived from 'name'), 'clazz' an informational class name.
        'flags' are FUSD_REGISTER_* bits; 'poll' and 'flush' add
        FUSD_REGISTER_POLL and FUSD_REGISTER_FLUSH and default to the class
        (``register_poll``, an overridden :meth:`flush`).  'features'
        are the FUSD_FEATURE_* to ask for: by default REPLY_POLL, plus MMAP
        when :meth:`mmap` is overridden, plus RECOVERY with 'grace_ms'.
        With 'grace_ms' the device outlives this process for that long, and
        a device of that name waiting for a daemon is taken over (its open
        files come to :meth:`reopen`; calls whose opcode has its bit
        ``1 << FUSD_OP_*`` in 'resend' come again).  Returns self.

        Raises OSError as the kernel refused (EEXIST, EPERM, EACCES ...).
        """
        if self.fd >= 0:
            raise OSError(errno.EBUSY, "already registered")
        if mode & ~0o777:
            raise OSError(errno.EINVAL, "mode 0%o: only permission bits" % mode)
        flags &= ~uapi.FUSD_REGISTER_ATTACH  # see 'grace_ms'
        if (self.register_poll if poll is None else poll):
            flags |= uapi.FUSD_REGISTER_POLL
        if (self._overrides("flush") if flush is None else flush):
            flags |= uapi.FUSD_REGISTER_FLUSH
        want = uapi.FUSD_FEATURE_REPLY_POLL if features is None else features
        if features is None and self._overrides("mmap"):
            want |= uapi.FUSD_FEATURE_MMAP
        if grace_ms:
            want |= uapi.FUSD_FEATURE_RECOVERY
        fd = os.open(control, os.O_RDWR | os.O_CLOEXEC)
        try:
            reg = None
            if grace_ms:
                try:
                    reg = self._register_ioctl(fd, name, mode, flags | uapi.FUSD_REGISTER_ATTACH,
                                               devname, clazz, want, grace_ms, resend)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
            if reg is None:
                reg = self._register_ioctl(fd, name, mode, flags, devname, clazz, want,
                                           grace_ms, 0)
        except BaseException:
            os.close(fd)
            raise
        self.name = reg["name"]
        self.minor = reg["minor"]
        self.features = reg["features"]
        self.supported = reg["supported"]
        self.dev_major = reg["dev_major"]
        self.dev_minor = reg["dev_minor"]
        self.grace_ms = reg["grace_ms"] if self.features & uapi.FUSD_FEATURE_RECOVERY else 0
        self.attach(fd, features=self.features, io_max=reg["io_max"] or uapi.FUSD_IO_MAX,
                    minor=self.minor)
        return self

    @staticmethod
    def _register_ioctl(fd: int, name: str, mode: int, flags: int, devname: str,
                        clazz: str, features: int, grace_ms: int, resend: int) -> Dict[str, Any]:
        """FUSD_IOC_REGISTER; a 1.0 kernel (EINVAL for features) is asked
        again without any."""
        buf = protocol.pack_register(name, mode, flags, devname=devname, clazz=clazz,
                                     features=features, grace_ms=grace_ms, resend=resend)
        try:
            fcntl.ioctl(fd, uapi.FUSD_IOC_REGISTER, buf, True)
        except OSError as e:
            if e.errno != errno.EINVAL or not (features or grace_ms):
                raise
            if flags & uapi.FUSD_REGISTER_ATTACH:
                raise OSError(errno.ENOENT, "nothing to take over") from e
            buf = protocol.pack_register(name, mode, flags, devname=devname, clazz=clazz)
            fcntl.ioctl(fd, uapi.FUSD_IOC_REGISTER, buf, True)
            d = protocol.unpack_register(buf)
            d["features"] = 0
            return d
        return protocol.unpack_register(buf)

    def attach(self, fd: int, *, features: int = uapi.FUSD_FEATURE_REPLY_POLL,
               io_max: int = uapi.FUSD_IO_MAX, minor: int = uapi.FUSD_PROTO_MINOR) -> "Device":
        """Serve requests arriving on 'fd', a registered channel (or a fake
        one in tests), with 'features' granted.  The fd becomes
        non-blocking.  Returns self."""
        self.fd = fd
        self.features = features
        self.minor = minor
        self.io_max = max(io_max, uapi.FUSD_IO_MAX)
        self._buf = bytearray(self.io_max + uapi.FUSD_MSG_HDR_ROOM)
        os.set_blocking(fd, False)
        return self

    def set_io_max(self, io_max: int) -> int:
        """FUSD_IOC_SET_IO_MAX: most payload bytes of one READ or WRITE
        request from now on; returns what the kernel granted."""
        import struct as _struct
        buf = bytearray(_struct.pack("=I", io_max))
        fcntl.ioctl(self.fd, uapi.FUSD_IOC_SET_IO_MAX, buf, True)
        granted = _struct.unpack("=I", buf)[0]
        with self._lock:
            self.io_max = max(granted, uapi.FUSD_IO_MAX)
            if len(self._buf) < self.io_max + uapi.FUSD_MSG_HDR_ROOM:
                self._buf = bytearray(self.io_max + uapi.FUSD_MSG_HDR_ROOM)
        return granted

    def fileno(self) -> int:
        """The channel's descriptor (for selectors and event loops)."""
        return self.fd

    @property
    def closed(self) -> bool:
        """Is the channel closed (or never opened)?"""
        return self.fd < 0

    def on_close(self, callback: Callable[["Device"], None]) -> None:
        """Call 'callback(self)' when the channel closes."""
        self._closed_callbacks.append(callback)

    def close(self) -> None:
        """Unregister: close the channel (the node goes away, or waits for
        the next daemon if recoverable).  Calls not answered are dropped
        (their callers fail with EPIPE)."""
        with self._lock:
            fd, self.fd = self.fd, -1
            for call in self._calls.values():
                call.done = True
            self._calls.clear()
            self._out.clear()
        if fd >= 0:
            # Callbacks first: an event loop forgets the fd while it is open.
            for cb in list(self._closed_callbacks):
                try:
                    cb(self)
                except Exception:
                    log.exception("fusd: close callback")
            os.close(fd)

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------------
    # Helpers for methods
    # ---------------------------------------------------------------------

    @staticmethod
    def current_call() -> Optional[Call]:
        """The call whose method runs now."""
        return _current.get()

    def defer(self) -> Call:
        """Keep the call whose method runs now, to answer it later."""
        call = _current.get()
        if call is None or call.device is not self:
            raise RuntimeError("defer() outside a method of this device")
        return call.defer()

    def pending_calls(self, file: Optional[File] = None) -> List[Call]:
        """Calls not answered yet (of 'file' only, if given)."""
        with self._lock:
            return [c for c in self._calls.values()
                    if file is None or c.file is file]

    def notify_poll(self, file: Union[File, int], mask: int) -> None:
        """Set the poll mask (EPOLL* bits) of open file 'file' (or fh).

        Inside a method answering a call of the same file, with
        FUSD_FEATURE_REPLY_POLL, the mask travels in that call's reply, so
        a caller polling right after its call never sees an older mask;
        otherwise a FUSD_OP_NOTIFY_POLL is sent.  Masks reach the kernel
        in the order they were set.  Thread-safe.
        """
        mask &= uapi.EPOLL_BITS_ALL
        with self._lock:
            if isinstance(file, File):
                f: Optional[File] = file
                fh = file.fh
            else:
                fh = file
                f = self.files.get(fh)
            if f is not None:
                if f.released:
                    return
                f._poll_seq += 1
                cur = _current.get()
                if (cur is not None and cur.file is f and cur._in_handler and not cur.done
                        and self.features & uapi.FUSD_FEATURE_REPLY_POLL):
                    cur._poll = (mask, f._poll_seq)
                    return
            self._send_locked(protocol.pack_notify_poll(fh, mask))

    # ---------------------------------------------------------------------
    # Serving
    # ---------------------------------------------------------------------

    def process(self) -> bool:
        """Read one batch of requests from the channel (if any is there),
        dispatch them and send the answers.  Returns False once the
        channel is gone (it is then closed)."""
        if self.fd < 0:
            return False
        try:
            n = os.readv(self.fd, [self._buf])
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as e:
            log.warning("fusd: %s: channel read: %s", self.name or self.fd, e)
            self.close()
            return False
        if n == 0:
            self.close()
            return False
        self.dispatch(memoryview(self._buf)[:n])
        return self.fd >= 0

    def dispatch(self, buf: protocol.Buffer) -> None:
        """Handle every request in one read() batch 'buf', then send the
        answers (several in one write)."""
        me = threading.get_ident()
        outer = self._batch_thread
        self._batch_thread = me
        try:
            for req in protocol.parse_requests(buf):
                self._handle(req)
        except protocol.ProtocolError as e:
            log.error("fusd: malformed request batch from the kernel: %s", e)
        finally:
            self._batch_thread = outer
            with self._lock:
                if outer is None:
                    self._flush_locked()

    def _send_locked(self, msg: bytes) -> None:
        """Queue one message; write now unless this thread's batch sends it."""
        self._out.append(msg)
        if self._batch_thread != threading.get_ident():
            self._flush_locked()

    def _flush_locked(self) -> None:
        """Write every queued message; a refused one is reported and
        skipped, never taking the others with it."""
        if not self._out:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        if self.fd < 0:
            return
        mv = memoryview(data)
        off = 0
        while off < len(data):
            try:
                n = os.write(self.fd, mv[off:])
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ENODEV, errno.EBADF):
                    log.warning("fusd: %s: channel gone: %s", self.name or self.fd, e)
                    return
                size = protocol.message_size(data, off)
                log.error("fusd: %s: message refused (%s): %s", self.name or self.fd,
                          e, _describe(data, off))
                off += max(size, 1)
                continue
            if n <= 0:
                log.error("fusd: %s: channel write took nothing", self.name or self.fd)
                return
            off += n

    # -- one request ------------------------------------------------------

    def _handle(self, req: Request) -> None:
        op = req.opcode
        if op == uapi.FUSD_OP_INTERRUPT:
            self._interrupt(req)
            return
        if not req.flags & uapi.FUSD_REQ_RESENT and req.id > self._max_id:
            self._max_id = req.id
        with self._lock:
            file = self.files.get(req.fh)
            if op in (uapi.FUSD_OP_OPEN, uapi.FUSD_OP_REOPEN):
                file = File(self, req)
                self.files[req.fh] = file
            elif file is not None:
                file.flags = req.f_flags
            call = Call(self, file, req)
            if op != uapi.FUSD_OP_REOPEN:
                self._calls[req.id] = call
        if file is None:
            if op != uapi.FUSD_OP_RELEASE:
                log.error("fusd: %s: %s for unknown file %d", self.name, call.opname, req.fh)
            call.reply(0 if op == uapi.FUSD_OP_RELEASE else -errno.EIO)
            return
        method, args, bad = self._method_for(call, req)
        if bad:
            call.error(bad)
            return
        call._in_handler = True
        token = _current.set(call)
        try:
            try:
                value = method(*args)
            except Exception as exc:
                if not call.done:
                    call.fail(exc)
                return
            if inspect.isawaitable(value):
                call.deferred = True
                if self._spawn is None:
                    log.error("fusd: %s: %s returned an awaitable: serve the device "
                              "with fusd.aio", self.name, call.opname)
                    close = getattr(value, "close", None)
                    if close:
                        close()
                    call.error(errno.EIO)
                else:
                    self._spawn(value, call)
            elif op == uapi.FUSD_OP_REOPEN:
                pass  # no answer is needed
            elif op == uapi.FUSD_OP_RELEASE:
                call.reply(0)  # must be answered; the result is ignored
            elif not (call.deferred or value is call) and not call.done:
                call.answer(value)
        finally:
            _current.reset(token)
            call._in_handler = False
            if op == uapi.FUSD_OP_RELEASE:
                self._released(file)
            elif not call.done and call._poll is not None:
                # A kept call holds no poll mask back.
                mask, seq = call._poll
                call._poll = None
                with self._lock:
                    if file is not None and seq == file._poll_seq:
                        self._send_locked(protocol.pack_notify_poll(req.fh, mask))

    def _method_for(self, call: Call, req: Request) -> Tuple[Callable[..., Any], tuple, int]:
        """The method for a request, its arguments, and an errno if the
        request cannot be served at all."""
        op = req.opcode
        f = call.file
        if op == uapi.FUSD_OP_READ:
            rw = req.u.rw
            if rw.size > self.io_max:
                return self.read, (), errno.EIO
            return self.read, (f, rw.size, rw.offset), 0
        if op == uapi.FUSD_OP_WRITE:
            return self.write, (f, req.payload, req.u.rw.offset), 0
        if op == uapi.FUSD_OP_OPEN:
            return self.open, (f,), 0
        if op == uapi.FUSD_OP_RELEASE:
            return self.release, (f,), 0
        if op == uapi.FUSD_OP_LLSEEK:
            s = req.u.seek
            return self.llseek, (f, s.offset, s.whence, s.pos), 0
        if op == uapi.FUSD_OP_IOCTL:
            io = req.u.ioctl
            if len(req.payload) > io.size:
                return self.ioctl, (), errno.EIO
            return self.ioctl, (f, io.cmd, io.arg, req.payload), 0
        if op == uapi.FUSD_OP_FLUSH:
            return self.flush, (f,), 0
        if op == uapi.FUSD_OP_FSYNC:
            return self.fsync, (f, bool(req.u.fsync.datasync)), 0
        if op == uapi.FUSD_OP_MMAP:
            m = req.u.mmap
            return self.mmap, (f, m.offset, m.length, m.prot, m.flags), 0
        if op == uapi.FUSD_OP_REOPEN:
            r = req.u.reopen
            if f is not None:
                f.cookie = r.cookie
            return self.reopen, (f, r.offset, r.cookie), 0
        # FUSD_OP_POLL (never sent) or an opcode of a newer protocol.
        return self.open, (), errno.ENOSYS

    def _released(self, file: Optional[File]) -> None:
        """After RELEASE: forget the file; a call of it still kept belongs
        to a caller that was killed, and is ended."""
        if file is None:
            return
        with self._lock:
            file.released = True
            if self.files.get(file.fh) is file:
                del self.files[file.fh]
            left = [c for c in self._calls.values() if c.file is file]
        for c in left:
            c.error(errno.EINTR)

    def _interrupt(self, req: Request) -> None:
        """INTERRUPT: the caller of u.interrupt.id got a signal."""
        target = req.u.interrupt.id
        with self._lock:
            call = self._calls.get(target)
        if call is not None and not call.done:
            call.interrupted = True
            try:
                self.interrupt(call)
            except Exception:
                log.exception("fusd: %s: interrupt hook", self.name)
            task = call._task
            if call.done and task is not None and not task.done():
                task.cancel()
        elif target > self._max_id:
            # Not seen yet (another reader has it): the kernel sends the
            # INTERRUPT again for as long as that call waits.
            with self._lock:
                self._send_locked(protocol.pack_reply(req.id, -errno.EAGAIN))
        # else: the call is over; nothing to do.

    # -- answers ----------------------------------------------------------

    def _errno_of(self, call: Call, exc: BaseException) -> int:
        """-errno for an exception a method raised."""
        if isinstance(exc, OSError) and exc.errno and 0 < exc.errno <= uapi.FUSD_ERRNO_MAX:
            return -exc.errno
        log.error("fusd: %s: %s failed", self.name, call.opname, exc_info=exc)
        return -errno.EIO

    def _convert(self, call: Call, value: Any) -> Tuple[int, bytes]:
        """(result, payload) for a method's return value."""
        op = call.opcode
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int) and value < 0:
            return value, b""
        if op == uapi.FUSD_OP_READ:
            if value is None:
                return 0, b""
            if isinstance(value, int):
                raise TypeError("read() must return bytes, not an int")
            data = bytes(value)
            size = call.request.u.rw.size
            if len(data) > size:
                raise ValueError("read() returned %d bytes, more than the %d asked for"
                                 % (len(data), size))
            return len(data), data
        if op == uapi.FUSD_OP_WRITE:
            size = call.request.u.rw.size
            n = len(call.request.payload) if value is None else int(value)
            if n > size:
                raise ValueError("write() took %d bytes of %d" % (n, size))
            return n, b""
        if op in (uapi.FUSD_OP_OPEN, uapi.FUSD_OP_RELEASE, uapi.FUSD_OP_FLUSH,
                  uapi.FUSD_OP_FSYNC):
            return 0, b""
        if op == uapi.FUSD_OP_LLSEEK:
            if value is None:
                raise TypeError("llseek() must return the new position")
            return int(value), b""
        if op == uapi.FUSD_OP_IOCTL:
            io = call.request.u.ioctl
            if value is None:
                result, data = 0, b""
            elif isinstance(value, int):
                result, data = value, b""
            elif isinstance(value, tuple):
                result, data = int(value[0]), bytes(value[1] or b"")
            else:
                result, data = 0, bytes(value)
            if result > _INT_MAX:
                raise ValueError("ioctl() result %d over INT_MAX" % result)
            if result < 0:
                return result, b""
            if not uapi.ioc_dir(io.cmd) & uapi.IOC_READ:
                if data:
                    raise ValueError("ioctl %#x copies nothing back, got %d bytes"
                                     % (io.cmd, len(data)))
            elif len(data) > io.size:
                raise ValueError("ioctl %#x: %d bytes back, more than its %d"
                                 % (io.cmd, len(data), io.size))
            return result, data
        if op == uapi.FUSD_OP_MMAP:
            if value is None:
                raise TypeError("mmap() must return a memfd or (fd, offset)")
            if isinstance(value, tuple):
                fd, off = int(value[0]), int(value[1])
            else:
                fd, off = (value if isinstance(value, int) else value.fileno()), 0
            return 0, protocol.pack_mmap_reply_fd(fd, off)
        return 0 if value is None else int(value), b""

    def _answer(self, call: Call, result: int, data: protocol.Buffer,
                offset: Optional[int], poll_mask: Optional[int],
                cookie: Optional[int]) -> bool:
        """Send the reply of 'call' (once)."""
        op = call.opcode
        if result < -uapi.FUSD_ERRNO_MAX:
            log.error("fusd: %s: %s answered %d: not an errno", self.name, call.opname, result)
            result = -errno.EIO
        if result < 0:
            data = b""
        if op == uapi.FUSD_OP_RELEASE:
            result = 0
        with self._lock:
            if call.done or op == uapi.FUSD_OP_REOPEN:
                return False
            call.done = True
            self._calls.pop(call.id, None)
            file = call.file
            flags = 0
            mask = 0
            if offset is not None and op in (uapi.FUSD_OP_READ, uapi.FUSD_OP_WRITE) \
                    and offset >= 0 and result >= 0:
                flags |= uapi.FUSD_REPLY_SET_OFFSET
            else:
                offset = 0
            ride = call._poll
            call._poll = None
            if poll_mask is not None and file is not None:
                poll_mask &= uapi.EPOLL_BITS_ALL
                file._poll_seq += 1
                ride = (poll_mask, file._poll_seq)
            if ride is not None and file is not None and ride[1] == file._poll_seq:
                if self.features & uapi.FUSD_FEATURE_REPLY_POLL:
                    flags |= uapi.FUSD_REPLY_POLL
                    mask = ride[0]
                else:
                    self._send_locked(protocol.pack_notify_poll(file.fh, ride[0]))
            if cookie is not None and self.features & uapi.FUSD_FEATURE_RECOVERY:
                flags |= uapi.FUSD_REPLY_COOKIE
                if file is not None:
                    file.cookie = cookie
            else:
                cookie = 0
            self._send_locked(protocol.pack_reply(call.id, result, data, offset=offset,
                                                  flags=flags, poll_mask=mask,
                                                  cookie=cookie))
            if file is not None and op == uapi.FUSD_OP_OPEN and result != 0:
                file.released = True
                if self.files.get(file.fh) is file:
                    del self.files[file.fh]
        return True

    def __repr__(self) -> str:
        return "<%s %s fd=%d>" % (type(self).__name__, self.name or "(unregistered)", self.fd)


def _describe(data: bytes, off: int) -> str:
    """A message in a write buffer, for an error message."""
    try:
        size, hdr_size, op, id_ = protocol._HDR.unpack_from(data, off)
    except Exception:
        return "(truncated)"
    text = "%s id=%d size=%d" % (uapi.OPCODE_NAMES.get(op, hex(op)), id_, size)
    if op == uapi.FUSD_OP_REPLY and size >= protocol._REPLY.size:
        r = protocol._REPLY.unpack_from(data, off)
        text += " result=%d flags=%#x" % (r[4], r[6])
    return text


def version(control: str = uapi.FUSD_CONTROL_PATH) -> Tuple[int, int, int]:
    """(major, minor, features) of the running kernel module."""
    import struct as _struct
    fd = os.open(control, os.O_RDWR | os.O_CLOEXEC)
    try:
        buf = bytearray(uapi.VERSION.size)
        try:
            fcntl.ioctl(fd, uapi.FUSD_IOC_VERSION, buf, True)
            major, minor, _r, features = uapi.VERSION.struct.unpack(buf)
        except OSError as e:
            if e.errno != errno.ENOTTY:
                raise
            buf = bytearray(uapi.FUSD_VERSION_SIZE_V1_0)
            fcntl.ioctl(fd, uapi.FUSD_IOC_VERSION_V1_0, buf, True)
            major, minor, _r = _struct.unpack("=HHI", buf)
            features = 0
        return major, minor, features
    finally:
        os.close(fd)


def serve(devices: Iterable[Device]) -> None:
    """Serve 'devices' until every channel is closed (see fusd.loop)."""
    from .loop import Loop
    loop = Loop()
    for d in devices:
        loop.add(d)
    loop.run()
