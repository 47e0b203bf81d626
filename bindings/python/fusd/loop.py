# SPDX-License-Identifier: BSD-3-Clause
"""A run loop on :mod:`selectors`: several devices, other descriptors and
timers in one thread.

::

    loop = fusd.Loop()
    loop.add(Echo().register("/dev/echo"))
    loop.call_later(5.0, print, "five seconds later")
    loop.run()          # until stop() or every device is closed

Answers to kept calls may come from any thread (:meth:`fusd.Call.answer`
writes them at once); :meth:`Loop.call_soon_threadsafe` runs a function in
the loop's thread instead.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import selectors
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .device import Device

log = logging.getLogger("fusd")


class Timer:
    """A function to call later; :meth:`cancel` drops it."""

    __slots__ = ("when", "fn", "args", "cancelled")

    def __init__(self, when: float, fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Do not call it."""
        self.cancelled = True


class Loop:
    """Serve devices, watch descriptors and run timers in one thread."""

    def __init__(self, selector: Optional[selectors.BaseSelector] = None) -> None:
        self.selector = selector or selectors.DefaultSelector()
        self.devices: List[Device] = []
        self._readers: Dict[int, Callable[[], Any]] = {}
        self._timers: List[Tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._stopped = False
        self._soon: List[Tuple[Callable[..., Any], Tuple[Any, ...]]] = []
        self._soon_lock = threading.Lock()
        self._thread: Optional[int] = None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC) \
            if hasattr(os, "pipe2") else os.pipe()
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)

    # -- devices and descriptors -----------------------------------------

    def add(self, device: Device) -> Device:
        """Serve 'device' (registered) from this loop; returns it."""
        if device.fd < 0:
            raise ValueError("device %r has no channel: register it first" % device)
        self.devices.append(device)
        self.selector.register(device.fd, selectors.EVENT_READ, device.process)
        device.on_close(self._device_closed)
        return device

    def remove(self, device: Device) -> None:
        """Stop serving 'device' (it stays registered)."""
        if device in self.devices:
            self.devices.remove(device)
            try:
                self.selector.unregister(device.fd)
            except (KeyError, ValueError):
                pass

    def _device_closed(self, device: Device) -> None:
        if device in self.devices:
            self.devices.remove(device)
            # The descriptor is closed already: find it by its callback.
            for key in list(self.selector.get_map().values()):
                if key.data == device.process:
                    self.selector.unregister(key.fileobj)

    def add_reader(self, fd: int, callback: Callable[[], Any]) -> None:
        """Call 'callback()' whenever 'fd' is readable."""
        self._readers[fd] = callback
        self.selector.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd: int) -> None:
        """Stop watching 'fd'."""
        if self._readers.pop(fd, None) is not None:
            self.selector.unregister(fd)

    # -- timers and other threads ----------------------------------------

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call 'fn(*args)' in 'delay' seconds (in the loop's thread)."""
        t = Timer(time.monotonic() + max(delay, 0.0), fn, args)
        with self._soon_lock:
            heapq.heappush(self._timers, (t.when, next(self._seq), t))
        if self._thread != threading.get_ident():
            self._wake()
        return t

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call 'fn(*args)' in the loop's thread as soon as it can."""
        with self._soon_lock:
            self._soon.append((fn, args))
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    # -- running ------------------------------------------------------------

    def stop(self) -> None:
        """Make :meth:`run` return (from any thread, or a callback)."""
        self._stopped = True
        self._wake()

    def run_once(self, timeout: Optional[float] = None) -> None:
        """Wait at most 'timeout' seconds (None: no limit) for events, and
        handle them."""
        self._thread = threading.get_ident()
        with self._soon_lock:
            if self._timers:
                wait = max(0.0, self._timers[0][0] - time.monotonic())
                timeout = wait if timeout is None else min(timeout, wait)
            if self._soon:
                timeout = 0.0
        for key, _events in self.selector.select(timeout):
            try:
                key.data()
            except Exception:
                log.exception("fusd: loop callback")
        now = time.monotonic()
        while True:
            with self._soon_lock:
                if not self._timers or self._timers[0][0] > now:
                    break
                _when, _n, t = heapq.heappop(self._timers)
            if not t.cancelled:
                try:
                    t.fn(*t.args)
                except Exception:
                    log.exception("fusd: timer")
        with self._soon_lock:
            soon, self._soon = self._soon, []
        for fn, args in soon:
            try:
                fn(*args)
            except Exception:
                log.exception("fusd: call_soon_threadsafe callback")

    def run(self) -> None:
        """Serve until :meth:`stop` or until no device is left."""
        self._stopped = False
        while not self._stopped and self.devices:
            self.run_once()

    def close(self) -> None:
        """Close every device served and the loop itself."""
        for d in list(self.devices):
            d.close()
        self.selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


def run(*devices: Device) -> None:
    """Serve 'devices' until each is closed (or KeyboardInterrupt)."""
    loop = Loop()
    for d in devices:
        loop.add(d)
    try:
        loop.run()
    finally:
        loop.close()
