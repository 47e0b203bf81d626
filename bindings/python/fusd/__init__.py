# SPDX-License-Identifier: BSD-3-Clause
"""fusd: character devices in pure Python, over the fusd kernel module.

The kernel module's wire protocol (include/uapi/linux/fusd.h) spoken with
the standard library only: no C extension, no libfusd.  Subclass
:class:`Device`, override the methods for the system calls the device
answers, register it and serve it::

    import errno, fusd

    class Hello(fusd.Device):
        def read(self, file, size, offset):
            return b"Hello, world!\\n"[offset:offset + size]

    fusd.run(Hello().register("/dev/hello"))

Modules: :mod:`fusd.device` (devices, files, calls), :mod:`fusd.loop` (a
run loop on :mod:`selectors`), :mod:`fusd.aio` (asyncio),
:mod:`fusd.protocol` (messages), :mod:`fusd.uapi` (constants and struct
layouts of the header).
"""
from . import protocol, uapi
from .device import Call, Device, File, MmapAnswer, current_call, version
from .loop import Loop, Timer, run
from .uapi import (EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP,
                   EPOLLRDNORM, EPOLLWRNORM, FUSD_MMAP_SHARED, FUSD_PROTO_MAJOR,
                   FUSD_PROTO_MINOR, ioc, io, ior, iow, iowr, ioc_dir, ioc_nr,
                   ioc_size, ioc_type, layout)

__version__ = "0.1.0"

__all__ = [
    "Call", "Device", "File", "Loop", "MmapAnswer", "Timer", "current_call",
    "run", "version", "protocol", "uapi", "layout",
    "ioc", "io", "ior", "iow", "iowr", "ioc_dir", "ioc_nr", "ioc_size", "ioc_type",
    "EPOLLIN", "EPOLLOUT", "EPOLLPRI", "EPOLLERR", "EPOLLHUP", "EPOLLRDHUP",
    "EPOLLRDNORM", "EPOLLWRNORM", "FUSD_MMAP_SHARED", "FUSD_PROTO_MAJOR",
    "FUSD_PROTO_MINOR", "__version__",
]
