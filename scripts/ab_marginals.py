#!/usr/bin/env python3
"""Each stage-1 kernel's marginal cost (µs) from the `--breakdown` lines of same-call A/B logs.

  scripts/ab_marginals.py LOG [LOG...]

LOG is the output of scripts/gpu_scan_ab.sh (log_ab.txt: "+ LABEL bits W batch B n N", then the
bench's "# breakdown ..." lines) or the bench's own output, whose rows take the name of the
"# NAME: all checks passed" line that follows them (rows without one are not printed). The
breakdown times graphs of the first k kernels of stage 1, so prep = t1, `scan` = the second-to-last
prefix minus t1 (with anchors: the anchor stage and the scan together) and compact = the last prefix
minus the one before it; with two prefixes (prep and the fused low-rank kernel that compacts its KV heads,
since bc9f553) `scan` is that kernel and compact prints as "-". In the logs of the fused variant (3a41fb0, put back: prep inside the
scan's blocks, "stage1 prefixes (prep in scan)"), prep prints as "-" and `scan` = t1, the scan with
its prep. Prints one row per label, shape and fraction, with the bare reads of the
bounds (gather probe modes 2 and 3), stage 2's attend timed alone (`attend`) and the bare gather of the
survivors' K and V rows (gather probe mode 0, `gather`) where the log has them.
"""
import re
import sys


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    print(f"{'log':<28} {'label':<6} {'bits':<5} {'shape':<9} {'frac':<9} {'prep':>6} {'scan':>6} {'compact':>8} {'read':>6} {'stream':>6} {'attend':>6} {'gather':>6}")
    for path in sys.argv[1:]:
        cur, pending = None, []
        for line in open(path):
            m = re.match(r"\+ (\S+) bits (\S+) batch (\d+) n (\d+)", line)
            if m:
                cur = m.groups()
                continue
            m = re.match(r"# (\S+): all checks passed", line)
            if m and cur is None:
                for row in pending:  # the bench's row name spans the label, bits and shape columns
                    print(f"{path.split('/')[-1]:<28} {m.group(1):<22} " + row)
                pending = []
                continue
            m = re.match(r"# breakdown (\S+?):(-?[\d.]+) stage1 prefixes( \(prep in scan\))? ms:((?: [\d.]+)+)", line)
            if not m:
                continue
            t = [1e3 * float(x) for x in m.group(4).split()]
            fused = m.group(3) is not None
            if fused:  # no prep kernel: a zero prefix before the scan
                t = [0.0] + t
            frac = m.group(1) if m.group(1) == "certified" else f"{float(m.group(2)):.2f}"
            probes = {}
            for name in ("read bounds", "stream bounds", "attend only", "gather survivor rows"):
                mm = re.search(name + r" ms: ([\d.]+)", line)
                probes[name] = f"{1e3 * float(mm.group(1)):6.1f}" if mm else f"{'':>6}"
            prep = f"{'-':>6}" if fused else f"{t[0]:6.1f}"
            if len(t) == 2:  # two kernels (prep, the fused low-rank kernel compacting its KV heads): the second in
                # `scan`, compact "-" (its work is inside that kernel)
                cols = (f"{frac:<9} {prep} {t[1] - t[0]:6.1f} {'-':>8} "
                        f"{probes['read bounds']} {probes['stream bounds']}")
            else:
                cols = (f"{frac:<9} {prep} {t[-2] - t[0]:6.1f} {t[-1] - t[-2]:8.1f} "
                        f"{probes['read bounds']} {probes['stream bounds']}")
            cols += f" {probes['attend only']} {probes['gather survivor rows']}"  # stage 2 alone, the bare gather
            if cur is None:
                pending.append(cols)
                continue
            label, bits, b, n = cur
            shape = f"{b}x{int(n) // 1024}K"
            print(f"{path.split('/')[-1]:<28} {label:<6} {bits:<5} {shape:<9} " + cols)
    return 0


if __name__ == "__main__":
    sys.exit(main())
