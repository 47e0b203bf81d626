#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""echo: /dev/echo keeps what was last written to it and gives it back to
every reader -- examples/echo.c in Python.

    $ echo hi there > /dev/echo
    $ cat /dev/echo
    hi there

As the C echo: a write replaces the data with its bytes (its offset is
ignored) and takes them all; a read at 'offset' returns the held bytes
from there, 0 bytes (end of file) at or past their end; lseek takes
SEEK_SET and SEEK_CUR, SEEK_END fails with EINVAL (no size).

Beyond the C echo, while the device holds no data (nothing written yet,
or the last write was empty):

* a read waits until something is written (the call is kept, and
  answered by the write), or fails with EAGAIN on an O_NONBLOCK file;
* a signal to a waiting reader ends its read with EINTR (or restarts it
  under SA_RESTART);
* poll() reports every file writable, and readable exactly while the
  device holds data.

Options: --name NAME (default /dev/echo), --mode MODE (octal, default
0666).
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import List, Tuple

try:
    import fusd
except ImportError:  # run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import fusd


class Echo(fusd.Device):
    """The echo device: one buffer shared by every open file."""

    register_poll = True  # files start not ready: masks are ours to set

    def __init__(self) -> None:
        super().__init__()
        self.data = b""
        #: Reads waiting for data: (call, size, offset), oldest first.
        self.waiting: List[Tuple[fusd.Call, int, int]] = []

    def mask(self) -> int:
        """The poll mask of every file: writable, readable with data."""
        m = fusd.EPOLLOUT | fusd.EPOLLWRNORM
        if self.data:
            m |= fusd.EPOLLIN | fusd.EPOLLRDNORM
        return m

    def open(self, file: fusd.File) -> None:
        file.notify_poll(self.mask())  # travels with the OPEN's answer

    def read(self, file: fusd.File, size: int, offset: int) -> object:
        if self.data:
            return self.data[offset:offset + size] if offset >= 0 else b""
        if file.nonblock:
            raise OSError(errno.EAGAIN, "nothing written yet")
        call = self.defer()  # answered by the next write
        self.waiting.append((call, size, offset))
        return call

    def write(self, file: fusd.File, data: bytes, offset: int) -> int:
        self.data = bytes(data)  # the newest write replaces the old data
        if self.data:
            waiting, self.waiting = self.waiting, []
            for call, size, off in waiting:
                call.answer(self.data[off:off + size] if off >= 0 else b"")
        mask = self.mask()
        for f in list(self.files.values()):
            f.notify_poll(mask)
        return len(data)

    def interrupt(self, call: fusd.Call) -> None:
        # A waiting reader got a signal: its read fails with EINTR.
        self.waiting = [w for w in self.waiting if w[0] is not call]
        call.error(errno.EINTR)

    def release(self, file: fusd.File) -> None:
        # Reads of a closed file (their callers were killed) are dropped;
        # the library ends them.
        self.waiting = [w for w in self.waiting if w[0].file is not file]


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description="The echo device, in Python.")
    p.add_argument("--name", default="/dev/echo", help="node to register (default /dev/echo)")
    p.add_argument("--mode", default="0666", help="node permissions, octal (default 0666)")
    args = p.parse_args(argv)
    try:
        dev = Echo().register(args.name, int(args.mode, 8), clazz="misc")
    except OSError as e:
        print("register of %s failed: %s" % (args.name, e), file=sys.stderr)
        return 1
    print("serving %s (protocol 1.%d, features %#x)" % (args.name, dev.minor, dev.features),
          file=sys.stderr, flush=True)
    try:
        fusd.run(dev)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
