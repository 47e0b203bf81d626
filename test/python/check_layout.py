#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Description: the Python binding's struct layouts (fusd.uapi.layout())
equal the C header's: every struct of linux/fusd.h is there with the
compiler's size, every member Python names has the compiler's offset, and
every member of the header is named (a member whose type is another struct
of the header may be named alone: that struct is checked on its own).

    check_layout.py UAPI_LAYOUT_PROGRAM PYTHONPATH
    check_layout.py --self-test UAPI_LAYOUT_PROGRAM

UAPI_LAYOUT_PROGRAM is the C program gen_layout.py generated (its JSON on
stdout); PYTHONPATH is where the fusd package is (bindings/python).
Exit 0 when everything agrees, 1 otherwise, naming each difference.
--self-test shows that the comparison fails when it should: it feeds it
the C layout itself (must pass) and broken copies of it (each must fail).
"""
import copy
import json
import subprocess
import sys


def c_layout(program):
    out = subprocess.run([program], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    return json.loads(out)


def py_layout(path):
    sys.path.insert(0, path)
    import fusd.uapi  # noqa: E402 (from PYTHONPATH, on purpose)

    where = getattr(fusd.uapi, "__file__", "?")
    if not where.startswith(path):
        raise SystemExit("fusd.uapi came from %s, not from %s" % (where, path))
    # Struct names as in C, with or without a "struct " in front.
    out = {}
    for name, v in fusd.uapi.layout().items():
        out[name[len("struct "):] if name.startswith("struct ") else name] = v
    return out


def covered(field, c, py_fields):
    """A member of the header is named, itself or by an enclosing member
    of a named struct type (which is compared as a struct of its own)."""
    if field in py_fields:
        return True
    parts = field.split(".")
    for k in range(1, len(parts)):
        outer = ".".join(parts[:k])
        if outer in c["typed"] and outer in py_fields:
            return True
    return False


def compare(c, py):
    errors = []
    checked = 0
    for name in sorted(set(py) - set(c)):
        errors.append("Python has struct %s, which the header does not" % name)
    for name in c:
        if name not in py:
            errors.append("struct %s: not in fusd.uapi.layout()" % name)
            continue
        cs, ps = c[name], py[name]
        if ps.get("size") != cs["size"]:
            errors.append("struct %s: size %s in Python, %d in C"
                          % (name, ps.get("size"), cs["size"]))
        checked += 1
        pf = ps.get("fields", {})
        for field, off in sorted(pf.items()):
            if field not in cs["fields"]:
                errors.append("struct %s: Python has member %s, C does not"
                              % (name, field))
            elif off != cs["fields"][field]:
                errors.append("struct %s: %s at offset %s in Python, %d in C"
                              % (name, field, off, cs["fields"][field]))
            else:
                checked += 1
        aggregates = set(cs["aggregates"])
        for field in cs["fields"]:
            if field in aggregates:
                continue  # a union or struct member: its members count
            if not covered(field, cs, pf):
                errors.append("struct %s: member %s is not in Python"
                              % (name, field))
    return errors, checked


def self_test(c):
    """The comparison passes on the header's own layout and fails on each
    kind of drift.  Returns the list of what went wrong."""
    def exact():
        return {n: {"size": v["size"], "fields": dict(v["fields"])}
                for n, v in c.items()}

    bad = []
    errors, _ = compare(c, exact())
    if errors:
        bad.append("the C layout itself: %s" % errors)
    # A member of a named struct type may stand for that struct's members.
    short = exact()
    for name, v in c.items():
        for outer in v["typed"]:
            for f in list(short[name]["fields"]):
                if f.startswith(outer + "."):
                    del short[name]["fields"][f]
    errors, _ = compare(c, short)
    if errors:
        bad.append("members of a typed member left out: %s" % errors)

    some = sorted(c)[0]
    leaf = next(f for f in c[some]["fields"]
                if f not in c[some]["aggregates"])
    typed = next(((n, o) for n, v in c.items() for o in v["typed"]), None)
    cases = {"a struct missing": lambda p: p.pop(some),
             "an extra struct": lambda p: p.update(fusd_nonesuch=p[some]),
             "a wrong size": lambda p: p[some].update(size=c[some]["size"] + 8),
             "a wrong offset": lambda p: p[some]["fields"].update(
                 {leaf: c[some]["fields"][leaf] + 1}),
             "a member missing": lambda p: p[some]["fields"].pop(leaf),
             "an extra member": lambda p: p[some]["fields"].update(
                 nonesuch=0)}
    if typed:
        cases["a typed member and its members missing"] = lambda p: [
            p[typed[0]]["fields"].pop(f) for f in list(p[typed[0]]["fields"])
            if f == typed[1] or f.startswith(typed[1] + ".")]
    for what, breakit in cases.items():
        p = copy.deepcopy(exact())
        breakit(p)
        errors, _ = compare(c, p)
        if not errors:
            bad.append("%s went unnoticed" % what)
    return bad


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        bad = self_test(c_layout(argv[2]))
        for b in bad:
            print("FAIL self-test: " + b)
        if not bad:
            print("the layout comparison fails on every kind of drift tried")
        return 1 if bad else 0
    if len(argv) != 3:
        sys.stderr.write("usage: check_layout.py UAPI_LAYOUT_PROGRAM "
                         "PYTHONPATH\n")
        return 2
    c = c_layout(argv[1])
    py = py_layout(argv[2])
    errors, checked = compare(c, py)
    for e in errors:
        print("FAIL " + e)
    if errors:
        print("%d differences between fusd.uapi and linux/fusd.h" % len(errors))
        return 1
    print("fusd.uapi agrees with linux/fusd.h: %d structs, %d sizes and "
          "offsets compared" % (len(c), checked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
