#!/usr/bin/env python3
"""scripts/gpu_bench.sh's `sanitize`, `multi` and `main` modes, run here with stand-ins for the GPU machine's tools
(nvidia-smi, compute-sanitizer, the bench binary and the torch baseline, which record how they were called): every
small row reaches every tool with --check-only, its environment prefix and, for racecheck and synccheck, the larger
mbarrier table; GHOSTKV_SANITIZE_GPUS and GHOSTKV_SANITIZE_TOOLS are honoured; a tool error, a failing row and
rows left out by the time budget make the mode fail; GHOSTKV_SMALL_ROWS selects rows by name and refuses an
unknown one; `multi` passes --gpus over every GPU and refuses one GPU;
`main` runs no check row, starts its CSV with a quick run's rows and passes their captures' real fractions (the
mean and the per-head ones) to the main shapes, writes the device's nvidia-smi -q record without serial numbers, UUIDs
and PDIs (device.txt), and refuses to run without that CSV."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import ROOT, Checks  # noqa: E402

BENCH = """#!/bin/bash
echo "BENCH occ=${GHOSTKV_SCAN_OCC:-} ready=${GHOSTKV_COMPACT_READY:-} cvd=${CUDA_VISIBLE_DEVICES:-} tool=${FAKE_TOOL:-none} $*" >> "$FAKE_LOG"
case " $* " in *" --name ${FAKE_FAIL_ROW:-none} "*) exit 1;; esac
exit 0
"""
SANITIZER = """#!/bin/bash
[ "$1" = --version ] && { echo "fake compute-sanitizer"; exit 0; }
tool= opts=()
while [ $# -gt 0 ] && [[ "$1" != */ghostkv_gpu_bench ]]; do
  [ "$1" = --tool ] && tool="$2"
  opts+=("$1"); shift
done
echo "SAN ${opts[*]}" >> "$FAKE_LOG"
FAKE_TOOL="$tool" "$@"; rc=$?
if [ "$tool" = "${FAKE_ERR_TOOL:-none}" ]; then echo "========= ERROR SUMMARY: 3 errors"; exit 9; fi
[ "$tool" = racecheck ] && echo "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)" || echo "========= ERROR SUMMARY: 0 errors"
exit $rc
"""


def setup(tmp, ngpu):
    os.makedirs(os.path.join(tmp, "scripts"))
    os.makedirs(os.path.join(tmp, ".gpu_carry"))
    os.makedirs(os.path.join(tmp, "bin"))
    for f in ("gpu_bench.sh", "gpu_env.sh"):
        shutil.copy(os.path.join(ROOT, "scripts", f), os.path.join(tmp, "scripts", f))
    open(os.path.join(tmp, "scripts", "gpu_torch_sdpa.py"), "w").write(
        "import os\nopen(os.environ['FAKE_LOG'], 'a').write('TORCH\\n')\n")
    smi = ("#!/bin/bash\nif [ \"$1\" = -L ]; then for i in $(seq 0 %d); do echo \"GPU $i: H200\"; done\n"
           "elif [ \"$1\" = -q ]; then printf '    Product Name : H200\\n    Serial Number : 1650000000000\\n"
           "    GPU UUID : GPU-0000\\n    GPU PDI : 0x0123\\n    VBIOS Version : 96.00.00.00.01\\n'\n"
           "else echo \"H200, 580, 1980, 3201\"; fi\n") % (ngpu - 1)
    for path, text in ((os.path.join(tmp, ".gpu_carry", "ghostkv_gpu_bench"), BENCH), (os.path.join(tmp, "bin", "nvidia-smi"), smi),
                       (os.path.join(tmp, "bin", "compute-sanitizer"), SANITIZER)):
        open(path, "w").write(text)
        os.chmod(path, 0o755)


def run(tmp, mode, **env):
    log = os.path.join(tmp, "calls.log")
    if os.path.exists(log):
        os.remove(log)
    out = os.path.join(tmp, "out")
    shutil.rmtree(out, ignore_errors=True)
    e = dict(os.environ, PATH=os.path.join(tmp, "bin") + ":" + os.environ["PATH"], OUT=out, FAKE_LOG=log, **env)
    p = subprocess.run(["bash", os.path.join(tmp, "scripts", "gpu_bench.sh"), mode], env=e, capture_output=True, text=True, timeout=120)
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    return p.returncode, p.stdout + p.stderr, calls, out


def small_row_count():
    """The rows of gpu_bench.sh's small_rows array (one quoted row per line)."""
    lines = open(os.path.join(ROOT, "scripts", "gpu_bench.sh")).read().split("small_rows=(\n", 1)[1].split("\n)\n", 1)[0]
    return len([ln for ln in lines.splitlines() if ln.strip().startswith('"')])


def main():
    check = Checks()
    n = small_row_count()
    check(n >= 15, "gpu_bench.sh: at least 15 small rows, got %d" % n)
    with tempfile.TemporaryDirectory() as tmp:
        setup(tmp, 2)
        rc, text, calls, out = run(tmp, "sanitize", GHOSTKV_SANITIZE_GPUS="1")
        benches = [c for c in calls if c.startswith("BENCH")]
        check(rc == 0, "sanitize: exit 0 when every row is clean, got %d: %s" % (rc, text[-400:]))
        for tool in ("memcheck", "racecheck", "synccheck", "initcheck"):
            rows = [c for c in benches if "tool=%s " % tool in c]
            check(len(rows) == n, "sanitize %s: %d rows, got %d" % (tool, n, len(rows)))
            check(all("--check-only" in c and "--reps 1" in c for c in rows), "sanitize %s: every row --check-only --reps 1" % tool)
            check(all("cvd=1 " in c for c in rows), "sanitize %s: GHOSTKV_SANITIZE_GPUS=1 gives CUDA_VISIBLE_DEVICES=1" % tool)
            check(os.path.exists(os.path.join(out, "sanitize_%s.txt" % tool)), "sanitize: sanitize_%s.txt written" % tool)
            summary = open(os.path.join(out, "sanitize_%s.txt" % tool)).read()
            check("%d rows with 0 errors of %d" % (n, n) in summary, "sanitize %s: the clean-row count counts every row" % tool)
        sans = [c for c in calls if c.startswith("SAN")]
        check(all(("--num-cuda-barriers" in c) == ("racecheck" in c or "synccheck" in c) for c in sans),
              "sanitize: --num-cuda-barriers for racecheck and synccheck only")
        cutlocal = [c for c in benches if "--name rand4-cutlocal " in c]
        check(len(cutlocal) == 4 and all("occ=1 " in c for c in cutlocal), "sanitize: the -cutlocal rows run with GHOSTKV_SCAN_OCC=1")
        ready = [c for c in benches if "--name anc4-far-ready " in c]
        check(len(ready) == 4 and all("ready=1 " in c for c in ready), "sanitize: the -ready rows run with GHOSTKV_COMPACT_READY=1")
        plain = [c for c in benches if "--name rand8 " in c]
        check(plain and all("occ= ready= " in c for c in plain), "sanitize: a plain row gets no GHOSTKV_* variable")

        rc, text, calls, _ = run(tmp, "sanitize", GHOSTKV_SANITIZE_TOOLS="initcheck")
        check(rc == 0 and all("tool=initcheck " in c for c in calls if c.startswith("BENCH")) and
              len([c for c in calls if c.startswith("BENCH")]) == n, "sanitize: GHOSTKV_SANITIZE_TOOLS=initcheck runs that tool alone")
        rc, text, calls, out = run(tmp, "sanitize", GHOSTKV_SANITIZE_TOOLS="racecheck", GHOSTKV_SMALL_ROWS="splits98 rand4-cutlocal")
        benches = [c for c in calls if c.startswith("BENCH")]
        names = sorted(c.split("--name ")[1].split()[0] for c in benches)
        summary = open(os.path.join(out, "sanitize_racecheck.txt")).read()
        check(rc == 0 and names == ["rand4-cutlocal", "splits98"] and "occ=1 " in [c for c in benches if "rand4-cutlocal" in c][0]
              and "2 rows with 0 errors of 2" in summary,
              "sanitize: GHOSTKV_SMALL_ROWS runs the named rows alone (with their environment), counted of 2: %s" % names)
        rc, text, calls, _ = run(tmp, "sanitize", GHOSTKV_SMALL_ROWS="splits98 nope")
        check(rc != 0 and "'nope'" in text and not [c for c in calls if c.startswith("BENCH")],
              "sanitize: an unknown name in GHOSTKV_SMALL_ROWS is refused before any row runs")
        rc, text, _, _ = run(tmp, "sanitize", FAKE_ERR_TOOL="synccheck")
        check(rc != 0 and "FAILED" in text, "sanitize: a tool reporting errors fails the mode")
        rc, text, _, _ = run(tmp, "sanitize", FAKE_FAIL_ROW="lowrank", GHOSTKV_SANITIZE_TOOLS="memcheck")
        check(rc != 0, "sanitize: a row whose checks fail fails the mode")
        rc, text, calls, out = run(tmp, "sanitize", GHOSTKV_SANITIZE_BUDGET_S="0", GHOSTKV_SANITIZE_TOOLS="memcheck")
        skipped = open(os.path.join(out, "sanitize_memcheck.txt")).read().count("skipped (time budget)")
        check(rc != 0 and skipped == n and not [c for c in calls if c.startswith("BENCH")],
              "sanitize: rows not started within the budget are skipped and fail the mode (skipped %d)" % skipped)

        rc, text, calls, _ = run(tmp, "multi")
        benches = [c for c in calls if c.startswith("BENCH")]
        check(rc == 0 and len(benches) == n and all("--gpus 0,1" in c and "--check-only" in c for c in benches),
              "multi: %d rows with --gpus 0,1 --check-only, got rc %d, %d rows" % (n, rc, len(benches)))
        # main: the timed part after a quick run, whose CSV (two capture rows, one check row) it starts from
        header = "device,commit,case,label,surv_frac,head_fracs\n"
        checks_csv = os.path.join(tmp, ".gpu_carry", "checks_gpu_bench.csv")
        open(checks_csv, "w").write(header + "d,c,ref23m-L4-b8,certified,0.303,0.2/0.4\nd,c,ref23m-L4-b4,certified,0.31,0.3/0.3\n"
                                    "d,c,check-rand8,forced:0.05,0.05,\n")
        rc, text, calls, out = run(tmp, "main")
        benches = [c for c in calls if c.startswith("BENCH")]
        b8 = [c for c in benches if "--name 1x128K-b8 " in c and "--tier-only" not in c]
        check(rc == 0, "main: exit 0, got %d: %s" % (rc, text[-400:]))
        check(benches and not [c for c in benches if "--name check-" in c or "--mode capture" in c],
              "main: no check row and no capture row")
        check(len(b8) == 1 and "--extra real:ref23m-L4=0.303,real-heads:ref23m-L4=0.2/0.4" in b8[0],
              "main: the 1 × 128K int8 row gets the 8-bit capture's mean and per-head fractions: %s" % (b8[:1],))
        check("TORCH" in calls, "main: the torch baseline runs")
        dev = open(os.path.join(tmp, "out", "device.txt")).read() if os.path.exists(os.path.join(tmp, "out", "device.txt")) else ""
        check("VBIOS Version : 96.00.00.00.01" in dev and "Product Name" in dev and "Serial" not in dev and "UUID" not in dev and "PDI" not in dev,
              "main: device.txt holds nvidia-smi -q without serial numbers and UUIDs: %r" % dev)
        got = open(os.path.join(out, "gpu_bench.csv")).read()
        check(got.startswith(open(checks_csv).read()), "main: its gpu_bench.csv starts with the quick run's rows")
        os.remove(checks_csv)
        rc, text, calls, _ = run(tmp, "main")
        check(rc != 0 and "no checked rows" in text and not [c for c in calls if c.startswith("BENCH")],
              "main: refused without a quick run's CSV")
    with tempfile.TemporaryDirectory() as tmp:
        setup(tmp, 1)
        rc, text, calls, _ = run(tmp, "multi")
        check(rc != 0 and "needs 2 or more GPUs" in text and not calls, "multi: refused on one GPU")
    return check.done("gpu_bench_modes")


if __name__ == "__main__":
    sys.exit(main())
