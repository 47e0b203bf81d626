# SPDX-License-Identifier: BSD-3-Clause
"""Description: fusd.uapi's struct layouts and ioctl numbers are those of
include/uapi/linux/fusd.h: known sizes and offsets, _IOC encodings of two
architecture families, and (when a C compiler and the header are at hand)
every offset and size as the compiler lays the header out."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from fusd import uapi

HEADER_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                           "include", "uapi"))


class TestLayouts(unittest.TestCase):
    def test_sizes(self) -> None:
        sizes = {name: s["size"] for name, s in uapi.layout().items()}
        self.assertEqual(sizes, {
            "fusd_msg_header": 16,
            "fusd_request": 80,
            "fusd_reply": 56,
            "fusd_notify_poll": 48,
            "fusd_mmap_reply": 48,
            "fusd_register": 448,
            "fusd_copy": 32,
            "fusd_version": 16,
            "fusd_exchange": 56,
        })

    def test_request_offsets(self) -> None:
        f = uapi.layout()["fusd_request"]["fields"]
        expect = {
            "hdr": 0, "hdr.size": 0, "hdr.hdr_size": 4, "hdr.opcode": 6, "hdr.id": 8,
            "fh": 16, "pid": 24, "tgid": 28, "uid": 32, "gid": 36, "f_flags": 40,
            "flags": 44, "u": 48, "u.rw.offset": 48, "u.rw.size": 56,
            "u.seek.whence": 56, "u.seek.pos": 64, "u.ioctl.cmd": 48,
            "u.ioctl.arg": 56, "u.ioctl.size": 64, "u.fsync.datasync": 48,
            "u.interrupt.id": 48, "u.reopen.cookie": 56, "u.mmap.prot": 64,
            "u.mmap.flags": 68, "u.raw": 48,
        }
        for name, off in expect.items():
            self.assertEqual(f[name], off, name)

    def test_other_offsets(self) -> None:
        lay = uapi.layout()
        self.assertEqual(lay["fusd_reply"]["fields"]["result"], 16)
        self.assertEqual(lay["fusd_reply"]["fields"]["poll_mask"], 36)
        self.assertEqual(lay["fusd_reply"]["fields"]["cookie"], 40)
        self.assertEqual(lay["fusd_reply"]["fields"]["reserved"], 48)
        self.assertEqual(lay["fusd_notify_poll"]["fields"]["reserved"], 32)
        self.assertEqual(lay["fusd_mmap_reply"]["fields"]["fd"], 24)
        reg = lay["fusd_register"]["fields"]
        self.assertEqual((reg["name"], reg["devname"], reg["clazz"]), (16, 144, 272))
        self.assertEqual((reg["dev_major"], reg["features"], reg["grace_ms"],
                          reg["resend"], reg["reserved"]), (400, 416, 432, 436, 440))
        self.assertEqual(lay["fusd_exchange"]["fields"]["out_done"], 40)
        self.assertEqual(lay["fusd_version"]["fields"]["features"], 8)

    def test_formats_cover_every_byte(self) -> None:
        for s in uapi.STRUCTS.values():
            self.assertEqual(s.struct.size, s.size, s.name)
            self.assertEqual(len(s.struct.unpack(bytes(s.size))), len(s.fields))

    def test_pack_unpack_dict(self) -> None:
        raw = uapi.REPLY.pack({"hdr.size": 56, "hdr.id": 7, "result": -5})
        d = uapi.REPLY.unpack(raw)
        self.assertEqual((d["hdr.size"], d["hdr.id"], d["result"], d["cookie"]), (56, 7, -5, 0))
        with self.assertRaises(KeyError):
            uapi.REPLY.pack({"nonsense": 1})


class TestIoctlNumbers(unittest.TestCase):
    def test_generic(self) -> None:
        n = uapi.ioctl_numbers(uapi.IOC_GENERIC)
        self.assertEqual(n["FUSD_IOC_REGISTER"], 0xC1C0FD01)
        self.assertEqual(n["FUSD_IOC_VERSION"], 0x8010FD02)
        self.assertEqual(n["FUSD_IOC_SET_BATCH"], 0x4004FD03)
        self.assertEqual(n["FUSD_IOC_COPY_FROM_CALLER"], 0x4020FD04)
        self.assertEqual(n["FUSD_IOC_COPY_TO_CALLER"], 0x4020FD05)
        self.assertEqual(n["FUSD_IOC_EXCHANGE"], 0xC038FD06)
        self.assertEqual(n["FUSD_IOC_SET_IO_MAX"], 0xC004FD07)

    def test_powerpc(self) -> None:
        enc = uapi.ioc_encoding("ppc64le")
        self.assertIs(enc, uapi.IOC_POWERPC)
        n = uapi.ioctl_numbers(enc)
        self.assertEqual(n["FUSD_IOC_VERSION"], 0x4010FD02)
        self.assertEqual(n["FUSD_IOC_SET_BATCH"], 0x8004FD03)
        self.assertEqual(n["FUSD_IOC_REGISTER"], 0xC1C0FD01)
        self.assertEqual(uapi.io(ord("G"), 3, enc), 0x20004703)

    def test_decode(self) -> None:
        for enc in (uapi.IOC_GENERIC, uapi.IOC_POWERPC, uapi.IOC_PARISC):
            cmd = uapi.iowr(0xFD, 6, 56, enc)
            self.assertEqual(uapi.ioc_dir(cmd, enc), enc.read | enc.write)
            self.assertEqual(uapi.ioc_type(cmd, enc), 0xFD)
            self.assertEqual(uapi.ioc_nr(cmd, enc), 6)
            self.assertEqual(uapi.ioc_size(cmd, enc), 56)
            self.assertEqual(uapi.ioc_dir(uapi.io(1, 2, enc), enc), enc.none)
        with self.assertRaises(ValueError):
            uapi.ioc(uapi.IOC_READ, 1, 1, 1 << 14, uapi.IOC_GENERIC)

    def test_host_is_x86_or_named(self) -> None:
        self.assertIn(uapi.IOC_HOST, (uapi.IOC_GENERIC, uapi.IOC_POWERPC, uapi.IOC_PARISC))


def _c_program() -> str:
    """A C program printing layout() as the compiler sees the header."""
    lines = [
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <linux/fusd.h>",
        "int main(void)",
        "{",
        '\tprintf("{");',
    ]
    ioctls = uapi.ioctl_numbers()
    first_struct = True
    for name, s in uapi.layout().items():
        lines.append('\tprintf("%s\\"%s\\": {\\"size\\": %%zu, \\"fields\\": {", sizeof(struct %s));'
                     % ("" if first_struct else ", ", name, name))
        first_struct = False
        for i, field in enumerate(s["fields"]):
            lines.append('\tprintf("%s\\"%s\\": %%zu", offsetof(struct %s, %s));'
                         % ("" if i == 0 else ", ", field, name, field))
        lines.append('\tprintf("}}");')
    for name in ioctls:
        lines.append('\tprintf(", \\"%s\\": %%lu", (unsigned long)%s);' % (name, name))
    lines.append('\tprintf("}\\n");')
    lines.append("\treturn 0;")
    lines.append("}")
    return "\n".join(lines) + "\n"


@unittest.skipUnless(shutil.which("cc") and os.path.exists(os.path.join(HEADER_DIR, "linux", "fusd.h")),
                     "needs a C compiler and include/uapi/linux/fusd.h")
class TestAgainstCHeader(unittest.TestCase):
    """Every size, offset and ioctl number equals what cc makes of the header."""

    def test_compiler_agrees(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "layout.c")
            exe = os.path.join(tmp, "layout")
            with open(src, "w") as f:
                f.write(_c_program())
            r = subprocess.run(["cc", "-std=gnu99", "-Wall", "-I", HEADER_DIR, "-o", exe, src],
                               capture_output=True, text=True)
            if r.returncode:
                self.fail("the layout program does not build:\n" + r.stderr)
            out = json.loads(subprocess.run([exe], capture_output=True, text=True,
                                            check=True).stdout)
        ioctls = {k: out.pop(k) for k in list(out) if k.startswith("FUSD_IOC_")}
        self.assertEqual(out, uapi.layout())
        self.assertEqual(ioctls, uapi.ioctl_numbers())


if __name__ == "__main__":
    unittest.main()
