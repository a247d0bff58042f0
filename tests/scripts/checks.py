"""Shared by the script tests of this folder: a failure counter (check(ok, what) prints what failed;
done(name) prints the verdict and gives the exit status), and for the scripts that rewrite a recorded
gpu_bench.csv: running one on a CSV, and checking a recorded file against its output on another."""
import csv
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_csv_script(script, src, dst):
    """scripts/SCRIPT SRC DST; DST's rows."""
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), src, dst], check=True, capture_output=True)
    return list(csv.DictReader(open(dst)))


class Checks:
    def __init__(self):
        self.fails = 0

    def __call__(self, ok, what):
        if not ok:
            self.fails += 1
            print("FAIL:", what)

    def done(self, name):
        print("%s: %s" % (name, "ok" if not self.fails else "%d failures" % self.fails))
        return 1 if self.fails else 0


def is_script_output(check, script, raw, pub):
    """check that the file pub (relative to the repository) is exactly script's output on raw."""
    raw, pub = os.path.join(ROOT, raw), os.path.join(ROOT, pub)
    if not os.path.exists(raw):
        check(False, "missing " + raw)
        return
    with tempfile.TemporaryDirectory() as td:
        dst = os.path.join(td, "out.csv")
        run_csv_script(script, raw, dst)
        check(open(dst).read() == open(pub).read(), f"{pub} is not the output of scripts/{script} on {raw}")


def run_on_rows(script, fields, rows):
    """scripts/SCRIPT on a CSV of rows (dicts over fields); its output rows."""
    with tempfile.TemporaryDirectory() as td:
        src, dst = os.path.join(td, "raw.csv"), os.path.join(td, "out.csv")
        with open(src, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        return run_csv_script(script, src, dst)


def columns_kept(check, rows, out, fields, rewritten):
    """check that out keeps fields' order and every column but those in rewritten of each row."""
    for o, r in zip(out, rows):
        for k in fields:
            if k not in rewritten:
                check(o[k] == r[k], f"{r['case']}: column {k} changed")
    check(bool(out) and list(out[0].keys()) == fields, "column order kept")
