#!/usr/bin/env python3
"""Static instruction counts of a kernel's loops, from `cuobjdump -sass` output (no GPU needed).

  scripts/sass_loops.py SASS_FILE KERNEL_REGEX [MIN_LEN]

For every function whose mangled name matches KERNEL_REGEX, prints each backward branch spanning more
than MIN_LEN (default 100) instructions (a loop: its first address, its back branch, the instruction
count between them) and the loop body's opcode histogram. The SASS comes from
    nvcc -std=c++17 -O3 -arch=sm_90a -Ikernels -Iinclude -cubin kernels/decode.cu -o decode.cubin
    cuobjdump -sass decode.cubin > decode.sass   # cuobjdump: PyPI wheel nvidia-cuda-cuobjdump
A loop body holds every branch of the loop (both epilogue variants of the scan, for instance), so the
count is an upper bound on the instructions one iteration issues.
"""
import collections
import re
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    path, pat = sys.argv[1], sys.argv[2]
    min_len = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    found = False
    for func in re.split(r"\n\s*Function : ", open(path).read()):
        name = func.split("\n", 1)[0]
        if not re.search(pat, name):
            continue
        found = True
        ins = [(int(m.group(1), 16), m.group(2).strip()) for m in re.finditer(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", func)]
        index = {a: i for i, (a, _) in enumerate(ins)}
        print(f"{name}: {len(ins)} instructions")
        for i, (addr, text) in enumerate(ins):
            t = re.search(r"BRA[^0-9]*0x([0-9a-f]+)", text)
            if not t:
                continue
            target = int(t.group(1), 16)
            if target < addr and target in index and i - index[target] + 1 > min_len:
                body = [x for _, x in ins[index[target]:i + 1]]
                ops = collections.Counter(re.sub(r"^@!?U?P\w+\s+", "", x).split()[0].split(".")[0] for x in body)
                print(f"  loop {target:#x}..{addr:#x}: {len(body)} instructions")
                print("    " + ", ".join(f"{k} {v}" for k, v in ops.most_common()))
    if not found:
        print(f"no function matches {pat}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
