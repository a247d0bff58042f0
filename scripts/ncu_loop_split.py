#!/usr/bin/env python3
"""Instructions and stall samples per iteration of a kernel's main loop, from Nsight Compute's SASS source page.

  scripts/ncu_loop_split.py SOURCE_CSV[.xz] [MIN_EXEC] [ITERS]

SOURCE_CSV comes from `ncu --import REP --page source --print-source sass --csv` (xz-compressed is read too).
The loop holds the first wait for copies among the instructions executed at least MIN_EXEC times (default 20000):
an mbarrier wait (SYNCS.PHASECHK) or a wait for the thread's cp.async groups (DEPBAR); it runs from the target of
the first backward branch after that wait to that branch (without one: the instructions executed at least
MIN_EXEC times). It is split at the wait and at its first block barrier (BAR.SYNC) after the wait (the barrier
and the branch back: 4 instructions after it count with the second part), or, with no barrier in the loop, at the
loop's end. ITERS (default: the barrier's execution count,
else the wait's: one per warp and iteration) divides the executed warp instructions, so the parts are per warp and
iteration.
Prints each part's instructions per iteration and share of stall samples, the opcodes of each part per iteration,
the kernel's stall reasons (share of all samples) and the instructions with the most samples.
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ncu_stall_shares import num, read_source, reason_shares  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    path = sys.argv[1]
    min_exec = float(sys.argv[2]) if len(sys.argv) > 2 else 20000.0
    ix, data = read_source(path)
    src, execd, samp = ix["Source"], ix["Instructions Executed"], ix["Warp Stall Sampling (All Samples)"]
    loop = [i for i, r in enumerate(data) if num(r[execd]) >= min_exec]
    if not loop:
        print("no instruction executed %d times or more" % min_exec)
        return 1
    lo = min(loop)
    def opcode(text):  # the instruction's opcode, past a predicate ("@!P0 BRA ..." -> "BRA")
        tok = text.split()
        return (tok[1] if tok and tok[0].startswith("@") and len(tok) > 1 else tok[0] if tok else "")

    # the wait: SYNCS.PHASECHK, or DEPBAR (not LDGDEPBAR, which commits the copies issued before it)
    wait = next((i for i in loop if opcode(data[i][src]).startswith(("SYNCS.PHASECHK", "DEPBAR"))), None)
    if wait is None:
        print("no wait for copies in the loop")
        return 1
    # the loop closes at the first backward branch after the wait (a BRA to an address at or before the wait's):
    # its target is the loop's first instruction, and instructions run as often elsewhere (another loop after
    # it, e.g. a block's combine over its lane groups) are not the loop's. Without such a branch: the run of
    # instructions executed at least MIN_EXEC times.
    addr = {}
    if "Address" in ix:
        for i, r in enumerate(data):
            try:
                addr[int(r[ix["Address"]], 16)] = i
            except ValueError:
                pass
    back = None
    for i in loop:
        tok = data[i][src].split()
        if i > wait and opcode(data[i][src]) == "BRA" and tok and tok[-1].startswith("0x"):
            t = addr.get(int(tok[-1].rstrip(";"), 16))
            if t is not None and t <= wait:
                back, lo = i, t
                break
    loop_end = back + 1 if back is not None else max(loop) + 1
    bar = next((i for i in loop if wait < i < loop_end and "BAR.SYNC" in data[i][src]), None)
    # the second part ends 4 instructions after the barrier (bar + 4); with no barrier, at the loop's end
    end, second = (bar + 4, "loop, the wait to the barrier") if bar is not None else (loop_end, "loop, the wait to its end")
    iters = float(sys.argv[3]) if len(sys.argv) > 3 else num(data[bar if bar is not None else wait][execd])
    total_exec = sum(num(r[execd]) for r in data)
    total_samp = sum(num(r[samp]) for r in data)
    print("%s: %.0f warp instructions executed, %.0f stall samples; loop instructions %d-%d, %.0f iterations"
          % (path, total_exec, total_samp, lo, end, iters))
    parts = [("before the loop", 0, lo), ("loop, before the wait", lo, wait), (second, wait, end), ("after the loop", end, len(data))]
    for name, a, b in parts:
        e = sum(num(r[execd]) for r in data[a:b])
        s = sum(num(r[samp]) for r in data[a:b])
        per = " (%.1f per iteration)" % (e / iters) if a >= lo and b <= end else ""
        print("  %-30s instructions %5.1f%%%s, stall samples %5.1f%%" % (name, 100 * e / total_exec, per, 100 * s / total_samp))
    for name, a, b in parts[1:3]:
        ops = collections.Counter()
        for r in data[a:b]:
            op = opcode(r[src])
            if op:
                ops[op.split(".")[0]] += num(r[execd])
        print("  %s, per iteration: %s" % (name, " ".join("%s %.1f" % (o, n / iters) for o, n in ops.most_common(14))))
    reasons = [k for k in ix if k.startswith("stall_") and "Not Issued" not in k]
    shares = reason_shares(ix, data)
    if shares:
        print("  stall reasons: " + " ".join("%s %.1f%%" % (k, 100 * v) for k, v in shares[:8]))
    print("  instructions with the most samples:")
    for i in sorted(range(len(data)), key=lambda i: -num(data[i][samp]))[:8]:
        r = data[i]
        top = sorted(reasons, key=lambda k: -num(r[ix[k]]))[:1] if reasons else []
        print("    %5d %5.1f%% executed %8.0f  %-44s %s" % (i, 100 * num(r[samp]) / total_samp, num(r[execd]), r[src].strip()[:44],
                                                          " ".join("%s %.0f" % (k[6:], num(r[ix[k]])) for k in top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
