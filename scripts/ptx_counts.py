#!/usr/bin/env python3
"""PTX opcode counts of GPU kernels at two commits (or a commit and the working tree).

  scripts/ptx_counts.py OLD NEW [FAMILY...]      (NEW may be `tree`; default families: every kernel family)

Compiles kernels/decode.{cu,h} of each side to PTX as scripts/ptx_same.py does (nvcc -O3 -arch=sm_90a,
the same normalisation of names) and prints, per kernel family, how many builds have the same text and
the same opcode counts, and for each build whose counts differ the opcodes that do. Where ptx_same.py
says DIFFERENT only because a parameter struct grew (every ld.param offset moves), equal counts show the
instruction stream is otherwise the same. Needs nvcc.
"""
import collections
import importlib.util
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("ptx_same", os.path.join(ROOT, "scripts", "ptx_same.py"))
ps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ps)


def counts(text):
    """Opcode counts of a kernel's PTX; a predicated instruction (@%p op ...) counts as its opcode."""
    c = collections.Counter()
    for line in text.split("\n"):
        t = line.split()
        if t and t[0].startswith("@"):
            t = t[1:]
        if t and not t[0].startswith((".", "//", "{", "}", "$")):
            c[t[0]] += 1
    return c


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    old_rev, new_rev, fams = sys.argv[1], sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = ps.kernels(ps.ptx(ps.sources(tmp, old_rev))), ps.kernels(ps.ptx(ps.sources(tmp, new_rev)))
    common = sorted(set(a) & set(b))
    if not fams:
        fams = sorted({ps.family(n) for n in common if not n.startswith("func ")})
    for fam in fams:
        names = [n for n in common if ps.family(n) == fam]
        same_text = sum(a[n] == b[n] for n in names)
        same_counts = sum(counts(a[n]) == counts(b[n]) for n in names)
        ta, tb = sum(sum(counts(a[n]).values()) for n in names), sum(sum(counts(b[n]).values()) for n in names)
        print("%s: %d builds in both; same text %d; same opcode counts %d; instructions %d -> %d" %
              (fam, len(names), same_text, same_counts, ta, tb))
        for n in names:
            ca, cb = counts(a[n]), counts(b[n])
            if ca != cb:
                m = re.search(r"(%sI\w*?EE)" % fam, n)
                diff = ", ".join("%s %d->%d" % (k, ca[k], cb[k]) for k in sorted(set(ca) | set(cb)) if ca[k] != cb[k])
                print("  %s: %d -> %d; %s" % (m.group(1) if m else n, sum(ca.values()), sum(cb.values()), diff))


if __name__ == "__main__":
    main()
