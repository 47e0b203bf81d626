#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""gpio: /dev/gpio0 ... /dev/gpioN-1, pins whose state is a dict, served
by one loop.

    $ echo 1 > /dev/gpio0
    $ cat /dev/gpio0
    1
    $ cat /dev/gpio1
    0

A pin reads "0\\n" or "1\\n" (one line from offset 0, then end of file).
Writing "1", "high" or "on" sets it, "0", "low" or "off" clears it
(surrounding whitespace ignored); anything else fails with EINVAL.  A
change makes every open file of that pin report POLLPRI until its next
read, as a sysfs GPIO value does for edges; files are always readable and
writable.  Two ioctls do the same for programs: GPIO_GET (_IOR('G', 1,
__u32)) and GPIO_SET (_IOW('G', 2, __u32)).

Options: --count N pins (default 4), --prefix PREFIX (default
/dev/gpio), --mode (default 0666).
"""
from __future__ import annotations

import argparse
import errno
import os
import struct
import sys
from typing import Dict, List

try:
    import fusd
except ImportError:  # run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import fusd

GPIO_GET = fusd.ior(ord("G"), 1, 4)
GPIO_SET = fusd.iow(ord("G"), 2, 4)

_HIGH = {b"1", b"high", b"on"}
_LOW = {b"0", b"low", b"off"}

READY = fusd.EPOLLIN | fusd.EPOLLRDNORM | fusd.EPOLLOUT | fusd.EPOLLWRNORM


class Pin(fusd.Device):
    """One pin of a shared state dict."""

    register_poll = True

    def __init__(self, pins: Dict[int, int], number: int) -> None:
        super().__init__()
        self.pins = pins
        self.number = number
        self.pins.setdefault(number, 0)

    def set(self, value: int) -> None:
        """Set the pin; every open file hears of a change (POLLPRI)."""
        value = 1 if value else 0
        if self.pins[self.number] == value:
            return
        self.pins[self.number] = value
        for f in list(self.files.values()):
            f.state = True  # changed since its last read
            f.notify_poll(READY | fusd.EPOLLPRI)

    def open(self, file: fusd.File) -> None:
        file.state = False
        file.notify_poll(READY)

    def read(self, file: fusd.File, size: int, offset: int) -> bytes:
        if file.state:
            file.state = False
            file.notify_poll(READY)
        text = b"%d\n" % self.pins[self.number]
        return text[offset:offset + size] if offset >= 0 else b""

    def write(self, file: fusd.File, data: bytes, offset: int) -> int:
        word = data.strip().lower()
        if word in _HIGH:
            self.set(1)
        elif word in _LOW:
            self.set(0)
        else:
            raise OSError(errno.EINVAL, "write 0 or 1")
        return len(data)

    def ioctl(self, file: fusd.File, cmd: int, arg: int, data: bytes) -> object:
        if cmd == GPIO_GET:
            return 0, struct.pack("=I", self.pins[self.number])
        if cmd == GPIO_SET:
            (value,) = struct.unpack("=I", data)
            self.set(value)
            return 0
        raise OSError(errno.ENOTTY, "unknown ioctl")


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description="GPIO-style pins, in Python.")
    p.add_argument("--count", type=int, default=4, help="number of pins (default 4)")
    p.add_argument("--prefix", default="/dev/gpio", help="node prefix (default /dev/gpio)")
    p.add_argument("--mode", default="0666", help="node permissions, octal (default 0666)")
    args = p.parse_args(argv)
    pins: Dict[int, int] = {}
    loop = fusd.Loop()
    for n in range(args.count):
        name = "%s%d" % (args.prefix, n)
        try:
            loop.add(Pin(pins, n).register(name, int(args.mode, 8), clazz="gpio"))
        except OSError as e:
            print("register of %s failed: %s" % (name, e), file=sys.stderr)
            loop.close()
            return 1
    print("serving %s0..%d" % (args.prefix, args.count - 1), file=sys.stderr, flush=True)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
