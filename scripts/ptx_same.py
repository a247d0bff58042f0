#!/usr/bin/env python3
"""Which GPU kernels of the working tree compile to the same PTX as at another commit.

  scripts/ptx_same.py [--diff] COMMIT [COMMIT...]

For each commit, kernels/decode.{cu,h} of that commit and of the working tree are compiled to PTX
(nvcc -O3 -arch=sm_90a, as the build does) and compared kernel by kernel, after removing what does
not change the code: line directives, label and local-depot numbering, where device functions (.func,
e.g. a math routine, placed after whichever entry used it first) stand (each is compared on its own, by
name: the "(device functions)" line), the file's internal symbol hash, the
template arguments that only select a variant of the cut (finish_scan_block's LEAN, cut_head's), and
template arguments added later at their default (scan_kernel's CUT 0 and NCH 1, finish_scan_block's and
finish_scan_local's NT 0 and the pointer parameters added to them, prep_kernel's ZH true, DBG 0, R 1 and CL 1, finish_scan_local's PUB true,
attend_kernel's FIN false, NT 128 and BAL false, merge_kernel's BAL false), and DecodeParams' and Consts' sizes (the
first and third parameters'; fields added at their end keep the others' offsets). Same PTX means the same machine code (same ptxas), so a kernel measured at
that commit is the kernel in the tree. "same but reg names": the same instructions on differently
numbered virtual registers (ptxas may then allocate registers differently: not proven the same machine
code). "same lines, other order": with register numbers removed and declarations dropped, the same lines as a
multiset (the same instructions, not proven in the same order). Needs nvcc; prints one line per kernel family and status. --diff: then, for each kernel that differs, its
name and the lines that differ (a unified diff's - and + lines, after the normalisation above).
"""
import collections
import difflib
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ptx(src_dir):
    out = os.path.join(src_dir, "decode.ptx")
    subprocess.run(["nvcc", "-std=c++17", "-O3", "-arch=sm_90a", "-ptx", "-I" + src_dir, "-I" + os.path.join(ROOT, "include"),
                    os.path.join(src_dir, "decode.cu"), "-o", out], check=True, stderr=subprocess.DEVNULL)
    return out


def kernels(path):
    t = open(path).read()
    t = re.sub(r"_GLOBAL__N__[0-9a-f]+_\d+_decode_cu_[0-9a-f]{8}", "ANON", t)
    t = re.sub(r"_INTERNAL_[0-9a-f]+_", "_INTERNAL_", t)
    # the finish functions' NT 0 and their timeline / staged-edge / staged-count pointers (28010ce, 02ed10f, 2728abf):
    # the mangled names of their shared statics (s_last, s_edge) carry them
    t = re.sub(r"(inish_scan_blockILi\d+ELb\d)ELi0EE", r"\1EE", t)
    t = re.sub(r"(inish_scan_block[A-Za-z0-9_]*?PKjii)PxPd(?:Pj)?E", r"\1E", t)
    t = re.sub(r"(inish_scan_localILi\d+ELb\dELb\dELb\d)ELi0EE", r"\1EE", t)
    t = re.sub(r"(inish_scan_local[A-Za-z0-9_]*?Pjii)PdE", r"\1E", t)
    t = re.sub(r"inish_scan_blockILi(\d)ELb(\d)ELb\dEE", r"inish_scan_blockILi\1ELb\2EE", t)
    t = re.sub(r"inish_scan_localILi(\d)ELb(\d)ELb(\d)ELb1EE", r"inish_scan_localILi\1ELb\2ELb\3EE", t)  # PUB true
    t = re.sub(r"cut_headILb\dEE", "cut_headE", t)
    t = re.sub(r"cut_headILb\dELb\dEE", "cut_headE", t)
    t = re.sub(r"cut_headILb\dELb\dELb\dEE", "cut_headE", t)  # PRE (28010ce)
    # default template arguments added later: the scan's cut build (CUT 0: the global cut), prep's
    # histogram zeroing (ZH true)
    t = re.sub(r"(scan_kernelI(?:Li-?\d+E)+Lb\dELi\d+E)Li1EE", r"\1E", t)  # the scan's NCH 1 (e691620)
    t = re.sub(r"(scan_kernelI(?:Li-?\d+E)+Lb\dE)Li0EE", r"\1E", t)
    t = re.sub(r"(prep_kernelILi\d+ELi\d+ELb\d)ELi0ELi1ELi1EE", r"\1EE", t)  # prep's DBG 0, R 1, CL 1
    t = re.sub(r"(prep_kernelILi\d+ELi\d+ELb\dELi\d+ELi\d+)ELi1EE", r"\1EE", t)  # prep's CL 1
    t = re.sub(r"(prep_kernelILi\d+ELi\d+ELb\d)ELi0ELi1EE", r"\1EE", t)  # prep's DBG 0, R 1
    t = re.sub(r"(prep_kernelILi\d+ELi\d+ELb\d)ELi0EE", r"\1EE", t)  # prep's diagnostic build DBG 0
    t = re.sub(r"prep_kernelILi(\d+)ELi(\d+)ELb1EE", r"prep_kernelILi\1ELi\2EE", t)
    t = re.sub(r"attend_kernelILi(\d+)ELi(\d+)ELb(\d)ELb(\d)ELi(\d+)ELb0EE", r"attend_kernelILi\1ELi\2ELb\3ELb\4ELi\5EE", t)  # BAL false
    t = re.sub(r"merge_kernelILi(\d+)ELi(\d+)ELb0EE", r"merge_kernelILi\1ELi\2EE", t)  # merge's BAL false
    # DecodeParams' size (fields added at its end leave every other field's offset as it was; a kernel reading
    # a new field differs by its loads)
    t = re.sub(r"(_param_0)\[\d+\]", r"\1[N]", t)
    # Consts' size likewise (the third parameter where it is a struct: the kernels that take Consts; compact's,
    # attend's and merge's third parameter is a scalar)
    t = re.sub(r"(_param_2)\[\d+\]", r"\1[N]", t)
    t = re.sub(r"attend_kernelILi(\d+)ELi(\d+)ELb(\d)ELb(\d)ELi128EE", r"attend_kernelILi\1ELi\2ELb\3ELb\4EE", t)  # NT 128
    t = re.sub(r"attend_kernelILi(\d+)ELi(\d+)ELb(\d)ELb0EE", r"attend_kernelILi\1ELi\2ELb\3EE", t)
    t = "\n".join(l for l in t.split("\n") if not l.strip().startswith((".loc", ".file")))
    t = re.sub(r"\$L__BB\d+_", "$L__BB_", t)
    t = re.sub(r"__local_depot\d+", "__local_depot", t)
    t = re.sub(r"callseq \d+", "callseq", t)
    out = {}
    # an entry's text ends where the next entry or a device function (.func, e.g. a math library
    # routine placed after whichever entry used it first) begins
    for part in re.split(r"\n(?=\.(?:visible |weak )?\.?(?:entry|func) )", t):
        m = re.match(r"\.(?:visible |weak )?\.?entry (\S+?)\(", part)
        if m:
            out[m.group(1)] = part
            continue
        m = re.match(r"\.(?:visible |weak )?\.?func\s+(?:\([^)]*\)\s*)?(\S+?)\(", part)
        if m:  # a device function's body, compared by its own name (the n-th of that name)
            key = "func %s" % m.group(1)
            k = 2
            while key in out:
                key = "func %s #%d" % (m.group(1), k)
                k += 1
            out[key] = part
    return out


def renumber(text):
    """Virtual registers renamed in the order of their first use, their declarations dropped."""
    seen, count = {}, collections.Counter()

    def name(m):
        key = m.group(0)
        if key not in seen:
            seen[key] = "%%%s_%d" % (m.group(1), count[m.group(1)])
            count[m.group(1)] += 1
        return seen[key]

    text = "\n".join(l for l in text.split("\n") if not l.strip().startswith(".reg "))
    return re.sub(r"%([a-z]+)(\d+)\b", name, text)


def unnumbered(text):
    """The lines with virtual register numbers removed and declarations dropped, sorted (a multiset)."""
    lines = [l for l in text.split("\n") if not l.strip().startswith(".reg ")]
    return sorted(re.sub(r"%([a-z]+)\d+\b", r"%\1", l) for l in lines)


def family(name):
    if name.startswith("func "):
        return "(device functions)"
    m = re.search(r"([a-z_]+_kernel)", name)
    return m.group(1) if m else name


def sources(tmp, rev):
    """kernels/decode.{cu,h} (and exp_edge.h where the revision has it) of commit rev (or of the working tree:
    rev "tree") in a new folder under tmp."""
    d = os.path.join(tmp, rev)
    os.makedirs(d)
    for f in ("decode.cu", "decode.h", "exp_edge.h"):
        if rev == "tree":
            path = os.path.join(ROOT, "kernels", f)
            if not os.path.exists(path):
                continue
            text = open(path).read()
        else:
            r = subprocess.run(["git", "-C", ROOT, "show", "%s:kernels/%s" % (rev, f)], capture_output=True, text=True)
            if r.returncode != 0:
                if f == "exp_edge.h":
                    continue
                raise SystemExit("ptx_same.py: kernels/%s at %s: %s" % (f, rev, r.stderr.strip()))
            text = r.stdout
        open(os.path.join(d, f), "w").write(text)
    return d


def main():
    args = sys.argv[1:]
    show = "--diff" in args
    commits = [a for a in args if a != "--diff"]
    if not commits:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        now = kernels(ptx(sources(tmp, "tree")))
        for commit in commits:
            then = kernels(ptx(sources(tmp, commit)))
            res = collections.Counter()
            for name in set(now) | set(then):
                st = ("only in the tree" if name not in then else "only at " + commit if name not in now
                      else "same" if now[name] == then[name]
                      else "same but reg names" if renumber(now[name]) == renumber(then[name])
                      else "same lines, other order" if unnumbered(now[name]) == unnumbered(then[name]) else "DIFFERENT")
                res[(family(name), st)] += 1
            for (fam, st), k in sorted(res.items()):
                print("%s: %-22s %-18s (%d instantiations)" % (commit, fam, st, k))
            if show:
                for name in sorted(set(now) & set(then)):
                    if now[name] != then[name]:
                        print("%s: %s" % (commit, name))
                        d = difflib.unified_diff(then[name].splitlines(), now[name].splitlines(), lineterm="", n=0)
                        for line in d:
                            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                                print("  " + line)


if __name__ == "__main__":
    main()
