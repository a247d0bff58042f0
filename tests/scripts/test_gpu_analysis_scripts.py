#!/usr/bin/env python3
"""The GPU analysis scripts against worked examples and the repository's recorded data:
- scripts/ncu_loop_split.py splits a loop at an mbarrier wait and its barrier, or at a cp.async-group wait
  (DEPBAR) and the loop's end (its backward branch, not a second loop run as often after it), with the right counts
  per iteration (worked examples), and regenerates the committed split files of results/gpu/experiments byte for
  byte from their source pages (one page holds its kernel twice: the first is read);
- scripts/gpu_run_diff.py on two small worked runs: per shape the lowest / median / highest change of stage 1,
  stage 2, the step and our dense, and the rows whose dense error is the same; a row whose split count differs
  listed on its own and left out of the other rows' range;
- scripts/forced_balance.py regenerates its committed output, and its host replay of the forced survivor
  selection gives, over all 256 KV heads, exactly the survivor fractions the device recorded for the
  32 × 32K forced rows of results/gpu/gpu_bench.csv (int8 without anchors, low-rank with anchors), and with
  --even-pages its committed output and the fractions of call100's even-page rows (ab_even_pages_call100.csv);
- scripts/block_times.py on a worked record of block times (the SMs' pairs, attend's gaps and times, the blocks at
  work over time), and it regenerates the committed summaries of calls 91, 96 and 97 byte for byte (97's with each block's KV head);
- scripts/ptx_same.py's normalisation on worked PTX: template arguments added at their default and the pointer
  parameters added to the finish functions compare equal, a changed instruction or the scan's NCH 4 build does not;
- scripts/ab_pairs.py and scripts/scan_timeline.py on worked examples, and they regenerate the committed tables of
  calls 129 and 132 and the timeline analysis of calls 132 and 133;
- scripts/compact_timeline.py on a worked record, and it regenerates the compact timeline analysis of calls 138-141
  from their compressed records;
- scripts/gpu_per_head.py on a worked run (stage 2 per head against the mean, both against their floors, the speeds),
  refuses a run whose real-heads row lacks its mean row, and regenerates per_head_bd245e0.txt from that run's CSVs;
- scripts/sink_reference.py's per-step function on a worked KV head (the sinks' reference loses the tokens between
  −gap and θ; with the last token in it, the two frames agree);
- scripts/split_cut.py's survivors on a worked KV head (a block whose candidates carry more than its share of the budget
  keeps tokens the one cut eliminates; with one block, or even blocks, the two agree);
- scripts/stage1_rows.py on a worked CSV of two arms (each row's figures, each arm's range and count of rows ≤ 1.3×,
  a commit without an arm), a CSV without a column and one with a non-numeric value (refused, naming the file);
- scripts/split_timeline_sm.py on two worked launches (each launch's page-loop ends and late starters, the SMs' mean
  lags, the rank correlation and the slowest SMs common to both) and a CSV without the SM column (refused);
- scripts/adaptive_table.py on a worked run of two rows (the decoder against dense, the better path and torch SDPA,
  the worst of each, a failed check counted and the exit status 1) and a CSV without a column (refused); with --phases
  on two worked phases (the decoder against the better loop, the settled step of the later phase) and a CSV without
  settled_at (refused);
- scripts/gpu_report.py's row labels: a forced row with anchors, a split-cut row (cut_blocks) and rows of CSVs before
  that column or with the one cut (no mark);
- scripts/gpu_torch_spread.py on four worked runs (two groups, their ranges, medians and distance) and a run that
  lacks a shape's time or holds a non-numeric one (refused, naming the file and the shape or the row)."""
import csv
import lzma
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

EXP = os.path.join("results", "gpu", "experiments")


def run(args):
    r = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True)
    return r.returncode, r.stdout


def temp_csv(header, rows):
    """A temporary CSV file of header and rows; returns its path."""
    fd, path = tempfile.mkstemp(suffix=".csv")
    with os.fdopen(fd, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(header)
        wr.writerows(rows)
    return path


def source_page(rows):
    """A minimal SASS source page: (source, executed, samples, stall_long_sb) per instruction."""
    return temp_csv(["Address", "Source", "Instructions Executed", "Warp Stall Sampling (All Samples)", "stall_long_sb"],
                    [[hex(16 * i), src, ex, sm, lsb] for i, (src, ex, sm, lsb) in enumerate(rows)])


def main():
    check = Checks()

    # worked example, cp.async-group wait: 2 instructions before the loop, a loop of 6 run 30000 times
    # (2 before the DEPBAR: the copy and its LDGDEPBAR commit, which is not the wait; 4 from it to the loop's
    # end), 1 after it; no barrier in the loop
    page = source_page([("MOV R1, R2", 100, 5, 5), ("LDG.E R3, [R4]", 100, 5, 5),
                        ("LDGSTS.E.BYPASS.128 [R5], [R6]", 30000, 10, 10), ("LDGDEPBAR", 30000, 0, 0),
                        ("DEPBAR.LE SB0, 0x3", 30000, 40, 40),
                        ("FFMA R7, R8, R9, R7", 30000, 10, 0), ("FFMA R7, R8, R9, R7", 30000, 10, 0),
                        ("@!P0 BRA 0x20", 30000, 10, 0), ("EXIT", 100, 10, 0)])
    rc, out = run([os.path.join("scripts", "ncu_loop_split.py"), page])
    check(rc == 0, "ncu_loop_split on the DEPBAR example: exit %d" % rc)
    check("loop, before the wait" in out and "(2.0 per iteration)" in out, "DEPBAR example, before the wait:\n" + out)
    check("loop, the wait to its end" in out and "(4.0 per iteration)" in out, "DEPBAR example, the wait to the end:\n" + out)
    check("30000 iterations" in out, "DEPBAR example: iterations from the wait's count:\n" + out)
    line = next((l for l in out.splitlines() if "the wait to its end" in l and "instructions" in l), "")
    check("stall samples  70.0%" in line, "DEPBAR example: the wait (40) and the 3 after it (10 each) of 100 samples:\n" + out)
    os.unlink(page)
    # worked example, mbarrier wait and block barrier: the second part ends 4 instructions after the barrier
    page = source_page([("MOV R1, R2", 100, 0, 0), ("SYNCS.PHASECHK.TRANS64 P0, [R1], R2", 30000, 20, 20),
                        ("FFMA R7, R8, R9, R7", 30000, 10, 0), ("BAR.SYNC 0x0", 30000, 10, 0),
                        ("IADD3 R1, R1, 0x1, RZ", 30000, 0, 0), ("ISETP.GE.AND P0, PT, R1, R2, PT", 30000, 0, 0),
                        ("@!P0 BRA 0x10", 30000, 0, 0), ("EXIT", 100, 60, 0)])
    rc, out = run([os.path.join("scripts", "ncu_loop_split.py"), page])
    check(rc == 0 and "loop, the wait to the barrier" in out and "(6.0 per iteration)" in out,
          "mbarrier example, the wait to the barrier (6 instructions: 4 after the barrier count):\n" + out)
    os.unlink(page)
    # a second loop run as often right after the first (a block's combine over its lane groups): the first loop
    # ends at its backward branch (to 0x10, instruction 1), so its second part is the wait and 2 more, and the
    # other loop counts after it
    page = source_page([("MOV R1, R2", 100, 0, 0), ("LDGSTS.E.BYPASS.128 [R5], [R6]", 30000, 10, 10),
                        ("LDGDEPBAR", 30000, 0, 0), ("DEPBAR.LE SB0, 0x3", 30000, 20, 20),
                        ("FFMA R7, R8, R9, R7", 30000, 10, 0), ("@!P0 BRA 0x10", 30000, 10, 0),
                        ("FFMA R7, R8, R9, R7", 30000, 10, 0), ("FFMA R7, R8, R9, R7", 30000, 10, 0),
                        ("@!P1 BRA 0x60", 30000, 10, 0), ("EXIT", 100, 20, 0)])
    rc, out = run([os.path.join("scripts", "ncu_loop_split.py"), page])
    check(rc == 0 and "loop instructions 1-6," in out and "(3.0 per iteration)" in out,
          "two loops of equal counts, the first closed by its backward branch:\n" + out)
    line = next((l for l in out.splitlines() if l.strip().startswith("after the loop")), "")
    check("stall samples  50.0%" in line, "two loops: the second loop (30) and the exit (20) of 100 samples after the first:\n" + out)
    os.unlink(page)
    # no wait in the loop: said, nonzero exit
    page = source_page([("FFMA R7, R8, R9, R7", 30000, 10, 0), ("@!P0 BRA 0x0", 30000, 10, 0)])
    rc, out = run([os.path.join("scripts", "ncu_loop_split.py"), page])
    check(rc != 0 and "no wait for copies in the loop" in out, "a loop without a wait: " + out)
    os.unlink(page)

    # the committed split files, regenerated from their source pages
    # (the 1 × 128K page holds its kernel twice and runs its loop 6604 times: its first block, MIN_EXEC 3000)
    for src, split, extra in [("ncu_attend_bc9f553_32x32K_5_source.csv.xz", "ncu_attend_bc9f553_split.txt", []),
                              ("ncu_attend_d7f77c2_32x32K_5_source.csv.xz", "ncu_attend_d7f77c2_split.txt", []),
                              ("ncu_attend_dd9edbd_lranc_32x32K_5_source.csv.xz", "ncu_attend_dd9edbd_lranc_split.txt", []),
                              ("ncu_attend_dd9edbd_b8_32x32K_5_source.csv.xz", "ncu_attend_dd9edbd_b8_split.txt", []),
                              ("ncu_attend_dd9edbd_b8_1x128K_5_source.csv.xz", "ncu_attend_dd9edbd_b8_1x128K_5_split.txt",
                               ["3000"])]:
        rc, out = run([os.path.join("scripts", "ncu_loop_split.py"), os.path.join(EXP, src)] + extra)
        want = open(os.path.join(ROOT, EXP, split)).read()
        check(rc == 0 and out == want, "ncu_loop_split.py %s does not regenerate %s" % (src, split))

    # gpu_run_diff.py on two small runs: per shape the lowest / median / highest change of each phase, and the rows
    # whose dense error is the same
    cols = ["case", "label", "surv_frac", "max_mass_bound", "stage1_ms", "stage2_ms", "ghost_ms", "dense_ms", "dense_rel_err"]
    a = temp_csv(cols, [["1x128K-b8", "forced:0.05", "0.05", "0.9", "0.0670", "0.0200", "0.0870", "0.1400", "4.1e-07"],
                 ["1x128K-b8", "forced:0.2", "0.2", "0.8", "0.0670", "0.0400", "0.1070", "0.1400", "4.1e-07"],
                 ["1x128K-b4", "forced:0.05", "0.05", "0.9", "0.0500", "0.0200", "0.0700", "0.1400", "4.2e-07"],
                 ["32x32K-b8", "forced:0.05", "0.05", "0.9", "0.3500", "0.0700", "0.4200", "0.9700", "1.0e-06"]])
    b = temp_csv(cols, [["1x128K-b8", "forced:0.05", "0.05", "0.9", "0.0670", "0.0180", "0.0850", "0.1386", "4.1e-07"],
                 ["1x128K-b8", "forced:0.2", "0.2", "0.8", "0.0670", "0.0390", "0.1060", "0.1386", "4.1e-07"],
                 ["1x128K-b4", "forced:0.05", "0.05", "0.9", "0.0505", "0.0190", "0.0695", "0.1386", "4.3e-07"],
                 ["32x32K-b8", "forced:0.05", "0.05", "0.9", "0.3500", "0.0700", "0.4200", "0.9700", "1.0e-06"]])
    rc, out = run([os.path.join("scripts", "gpu_run_diff.py"), a, b])
    check(rc == 0 and "1x128K rows (3), lowest / median / highest: stage 1 +0.0% / +0.0% / +1.0%, stage 2 -10.0% / -5.0% / "
          "-2.5%, step -2.3% / -0.9% / -0.7%, our dense -1.0% / -1.0% / -1.0%" in out,
          "gpu_run_diff.py per-shape line:\n" + out)
    check("32x32K rows (1), lowest / median / highest: stage 1 +0.0% / +0.0% / +0.0%" in out
          and "rows whose dense error against float64 is the same: 3 of 4" in out
          and "rows whose survivor fraction or max mass bound differ: 0 of 4" in out, "gpu_run_diff.py summary:\n" + out)
    check("1x128K-b4                  1 rows: 50.5-50.5 (50.0-50.0), median +0.50" in out
          and "1x128K-b8                  2 rows: 67.0-67.0 (67.0-67.0), median +0.00" in out,
          "gpu_run_diff.py stage 1 per case:\n" + out)
    os.unlink(a)
    os.unlink(b)
    # a row whose split count differs is listed on its own (with stage 2) and left out of the other rows' range
    cols = ["case", "label", "surv_frac", "max_mass_bound", "stage1_ms", "stage2_ms", "ghost_ms", "dense_ms", "dense_rel_err",
            "splits"]
    a = temp_csv(cols, [["32x32K-b4-anc", "forced:0.05", "0.05", "0.9", "0.1500", "0.0800", "0.2200", "0.9700", "1e-06", "6"],
                        ["32x32K-b8", "forced:0.05", "0.05", "0.9", "0.3500", "0.0700", "0.4200", "0.9700", "1e-06", "1"]])
    b = temp_csv(cols, [["32x32K-b4-anc", "forced:0.05", "0.05", "0.8", "0.1500", "0.0700", "0.2100", "0.9700", "1e-06", "1"],
                        ["32x32K-b8", "forced:0.05", "0.05", "0.9", "0.3535", "0.0700", "0.4242", "0.9700", "1e-06", "1"]])
    rc, out = run([os.path.join("scripts", "gpu_run_diff.py"), a, b])
    check(rc == 0 and "splits 6 -> 1  stage 1 +0.0%  stage 2 -12.5%  step -4.5%" in out
          and "other main-shape rows (1): stage 1 +1.0% to +1.0%, step +1.0% to +1.0%" in out
          and "of them in survivor fraction: 0, in max mass bound: 1" in out, "gpu_run_diff.py, split counts:\n" + out)
    os.unlink(a)
    os.unlink(b)

    # gpu_per_head.py on a worked run: two layers of one case; stage 2 per head 10% / 5% above the mean's time, its ratio
    # to its floor 1.32 / 1.05 against 1.2 / 1.0 (+10% / +5%); the step 0.1 ms against torch 0.2 and dense 0.25
    cols = ["case", "label", "stage2_ms", "stage2_vs_floor", "ghost_vs_floor", "ghost_ms", "dense_ms", "adaptive_path"]
    a = temp_csv(cols, [["1x128K-b8", "real:L1", "0.0200", "1.2", "1.3", "0.1", "0.25", "ghost"],
                        ["1x128K-b8", "real-heads:L1", "0.0220", "1.32", "1.4", "0.1", "0.25", "ghost"],
                        ["1x128K-b8", "real:L2", "0.0400", "1.0", "1.1", "0.2", "0.25", "dense"],
                        ["1x128K-b8", "real-heads:L2", "0.0420", "1.05", "1.15", "0.2", "0.25", "dense"]])
    t = temp_csv(["case", "torch_ms"], [["1x131072", "0.2"], ["32x32768", "1.0"]])
    rc, out = run([os.path.join("scripts", "gpu_per_head.py"), a, t])
    check(rc == 0 and "1x128K-b8 L1 | mean: stage 2 1.200x floor, step 1.300x floor, 2.00x torch, 2.50x dense, adaptive ghost | "
          "heads: stage 2 1.320x floor, step 1.400x floor, 2.00x torch, 2.50x dense, adaptive ghost" in out
          and "1x128K-b8: stage 2 per head +5.0% to +10.0% of its time at the mean; stage 2 / floor at the mean 1.000-1.200, "
          "per head 1.050-1.320 (+5.0% to +10.0% of the same layer's at the mean)" in out, "gpu_per_head.py worked run:\n" + out)
    os.unlink(a)
    a = temp_csv(cols, [["1x128K-b8", "real-heads:L1", "0.0220", "1.32", "1.4", "0.1", "0.25", "ghost"]])
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_per_head.py"), a, t], capture_output=True, text=True)
    check(r.returncode != 0 and "lacks the real or real-heads row of L1" in r.stderr, "gpu_per_head.py without the mean row:\n"
          + r.stdout + r.stderr)
    os.unlink(a)
    os.unlink(t)
    rc, out = run([os.path.join("scripts", "gpu_per_head.py"), os.path.join(EXP, "full_bd245e0_gpu_bench.csv"),
                   os.path.join(EXP, "full_bd245e0_gpu_torch.csv")])
    check(rc == 0 and out == open(os.path.join(ROOT, EXP, "per_head_bd245e0.txt")).read(),
          "gpu_per_head.py does not regenerate per_head_bd245e0.txt")

    # forced_balance.py: its committed output, and its replay against the device's recorded fractions
    rc, out = run([os.path.join("scripts", "forced_balance.py")])
    check(rc == 0 and out == open(os.path.join(ROOT, EXP, "forced_balance_32x32K.txt")).read(),
          "forced_balance.py does not regenerate forced_balance_32x32K.txt")
    import forced_balance  # noqa: E402
    rows = {(r["case"], r["label"]): r for r in csv.DictReader(open(os.path.join(ROOT, "results", "gpu", "gpu_bench.csv")))}
    n, bk, hot = 32768, 256, 68
    compared = 0
    for case, anchors in (("32x32K-b8", False), ("32x32K-lowrank-anc", True)):
        for f in (0.01, 0.05, 0.2):
            r = rows.get((case, "forced:%.6f" % f))
            if r is None:
                check(False, "no row %s forced:%.6f in results/gpu/gpu_bench.csv" % (case, f))
                continue
            c = forced_balance.counts(bk, n, f, anchors)
            frac = (c.sum() - bk * hot) / (bk * (n - hot))  # the bench's surv_frac: cold survivors / cold candidates
            check(abs(frac - float(r["surv_frac"])) < 6e-7,
                  "%s at %g%%: replayed survivor fraction %.6f, the device's %s" % (case, 100 * f, frac, r["surv_frac"]))
            compared += 1
    check(compared == 6, "compared %d forced rows, want 6" % compared)
    # --even-pages: its committed output, and its replay against call100's device rows under GHOSTKV_FORCED_EVEN_PAGES=1
    rc, out = run([os.path.join("scripts", "forced_balance.py"), "--even-pages"])
    check(rc == 0 and out == open(os.path.join(ROOT, EXP, "forced_balance_even_32x32K.txt")).read(),
          "forced_balance.py --even-pages does not regenerate forced_balance_even_32x32K.txt")
    even = [r for r in csv.DictReader(open(os.path.join(ROOT, EXP, "ab_even_pages_call100.csv")))
            if r["commit"].endswith("-e1") and r["label"].startswith("forced:")]
    for r in even:
        f = float(r["label"].split(":")[1])
        c = forced_balance.counts(bk, n, f, True, even=True)
        frac = (c.sum() - bk * hot) / (bk * (n - hot))
        check(abs(frac - float(r["surv_frac"])) < 6e-7,
              "%s even pages at %g%%: replayed survivor fraction %.6f, the device's %s" % (r["case"], 100 * f, frac, r["surv_frac"]))
    check(len(even) == 5, "compared %d even-page rows of call100, want 5" % len(even))

    # block_times.py: a worked record (three SMs with two fused blocks each; attend's block y starting 1 µs after the
    # y-th fused end and taking 20 µs), and the committed summary of call91's record, byte for byte
    hdr = ["case", "label", "kernel", "block", "sm", "start_us", "end_us"]
    recs = [["w", "forced:0.050000", "fused", b, sm, st, en] for b, sm, st, en in
            ((0, 0, 0, 10), (1, 0, 0, 12), (2, 1, 1, 20), (3, 1, 1, 22), (4, 2, 2, 30), (5, 2, 2, 33))]
    recs += [["w", "forced:0.050000", "attend", y, y, st, st + 20] for y, st in enumerate((11, 13, 21, 23, 31, 34))]
    t = temp_csv(hdr, recs)
    rc, out = run([os.path.join("scripts", "block_times.py"), t])
    os.unlink(t)
    check(rc == 0 and "fused: start 0.0 / 1.0 / 2.0, end 10.0 / 21.0 / 33.0, duration 10.0 / 20.0 / 31.0 us" in out,
          "block_times fused line:\n" + out)
    check("3 with two blocks; the durations of an SM's two blocks correlate 1.000" in out, "block_times SM pairs:\n" + out)
    check("10th / 50th / 90th percentile: 1.0 / 1.0 / 1.0 us" in out and "to its end: 20.0 / 20.0 / 20.0 us" in out,
          "block_times attend gaps:\n" + out)
    check("every 5 us from 10 us: 0 2 2 4 4 4 4 2 2 0" in out and "still running then: 5 4 3 2 1 0 0 0 0 0" in out,
          "block_times over time:\n" + out)
    check("fused end: correlation 1.000" in out, "block_times attend against fused end:\n" + out)
    for call in ("call91", "call96", "call97"):
        rc, out = run([os.path.join("scripts", "block_times.py"), os.path.join(EXP, "block_times_%s.csv" % call), "--batch",
                       "32", "--hkv", "8", "--n", "32768"])
        check(rc == 0 and out == open(os.path.join(ROOT, EXP, "block_times_%s.txt" % call)).read(),
              "block_times.py does not regenerate block_times_%s.txt" % call)
    # ptx_same.py's normalisation: kernels whose only change is a template argument added at its default (the scan's
    # NCH 1, the finish functions' NT 0) and the pointer parameters added to the finish functions (in the mangled
    # names of their shared statics) compare equal; a real change of an instruction does not
    import ptx_same  # noqa: E402
    old = (".visible .entry _ZN7ghostkv4cuda41ANON11scan_kernelILi4ELi128ELi0ELi1ELi16ELi1ELb0EEEvNS0_12DecodeParamsE(\n"
           " mov.u32 %r1, _ZZN39_INTERNAL_9_decode_cu_6723b6307ghostkv4cuda41ANON17finish_scan_localILi3ELb1ELb1EEEvRKNS1_12"
           "DecodeParamsERKNS1_9WorkspaceEPjiiE6s_edge;\n"
           " st.shared.u8 [_ZZN39_INTERNAL_9_decode_cu_6723b6307ghostkv4cuda41ANON17finish_scan_blockILi4ELb1EEEvRKNS1_12"
           "DecodeParamsERKNS1_9WorkspaceEPKjiiE6s_last], %r2;\n")
    new = (old.replace("ELb0EEEvNS0_12DecodeParamsE(", "ELb0ELi0ELi1EEEvNS0_12DecodeParamsE(")
           .replace("ELb1ELb1EEEvRKNS1_12", "ELb1ELb1ELb1ELi0EEEvRKNS1_12").replace("EPjiiE6s_edge", "EPjiiPdE6s_edge")
           .replace("ILi4ELb1EEEvRKNS1_12", "ILi4ELb1ELi0EEEvRKNS1_12").replace("EPKjiiE6s_last", "EPKjiiPxPdE6s_last"))
    new3 = new.replace("EPKjiiPxPdE6s_last", "EPKjiiPxPdPjE6s_last")  # the staged counts' pointer (2728abf)
    with tempfile.TemporaryDirectory() as td:
        paths = [os.path.join(td, n) for n in ("old.ptx", "new.ptx", "new3.ptx", "changed.ptx")]
        for path, text in zip(paths, (old, new, new3, new3.replace("st.shared.u8", "st.shared.u16"))):
            open(path, "w").write(text)
        k_old, k_new, k_new3, k_changed = (ptx_same.kernels(path) for path in paths)
        check(k_old == k_new and len(k_old) == 1, "ptx_same: defaults and added pointer parameters not normalised: %r / %r"
              % (k_old, k_new))
        check(k_old == k_new3, "ptx_same: the finish function's third added pointer not normalised: %r" % (k_new3,))
        check(k_old != k_changed, "ptx_same: a changed instruction compares equal")
    new4 = new.replace("ELb0ELi0ELi1EEEv", "ELb0ELi0ELi4EEEv")
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "nch4.ptx")
        open(path, "w").write(new4)
        check(list(ptx_same.kernels(path)) != list(k_old), "ptx_same: the scan's NCH 4 build taken for NCH 1")
    # ab_pairs.py on a worked A/B CSV (two arms run in turn, twice): the k-th runs paired, their mean and range; and
    # the committed tables of calls 129 and 132 are its output
    head = ["commit", "case", "label", "stage1_ms"]
    ab = temp_csv(head, [["x-a", "c", "forced:0.05", "0.0500"], ["x-b", "c", "forced:0.05", "0.0490"],
                         ["x-b", "c", "forced:0.05", "0.0495"], ["x-a", "c", "forced:0.05", "0.0502"]])
    rc, out = run([os.path.join("scripts", "ab_pairs.py"), ab, "a"])
    check(rc == 0 and "c              forced    | a 50.0 50.2 | b 49.0 49.5 | b-a -1.0 -0.7" in out
          and "b-a: 2 pairs, mean -0.85 us, -1.0 to -0.7" in out, "ab_pairs worked example:\n" + out)
    rc, _ = run([os.path.join("scripts", "ab_pairs.py"), ab, "z"])
    check(rc == 2, "ab_pairs.py accepts a base arm the CSV does not have")
    os.remove(ab)
    for name, base in (("scan_chunks_call129", "c1"), ("cut_pre_call132", "pre0"), ("scan_cp_call134", "A"),
                       ("scan_cp_call135", "B"), ("scan_cp_call136", "cp0"), ("scan_cp_call137", "B"),
                       ("compact_2p_call139", "2p0"), ("compact_batch_call140", "bt0"), ("compact_batch_call141", "bt0"),
                       ("compact_grid_call142", "A"), ("surv_stride_call145", "s1"),
                       ("me_after_atomic_call146", "old"), ("compact_k2_call147", "old")):
        rc, out = run([os.path.join("scripts", "ab_pairs.py"), os.path.join(EXP, name + ".csv"), base])
        check(rc == 0 and out in open(os.path.join(ROOT, EXP, name + ".txt")).read(),
              "ab_pairs.py's output is not the table of %s.txt" % name)
    # scan_timeline.py on a worked record: two blocks of one KV head, the second started late; then it regenerates
    # the committed analysis of calls 132 and 133
    warps = ["warp%d_us" % i for i in range(16)]
    tl = temp_csv(["case", "label", "block", "kv_head", "start_us"] + warps,
                  [["t", "f", "0", "0", "0.0"] + ["10", "12", "14"] + [""] * 13,
                   ["t", "f", "1", "0", "2.0"] + ["11", "20"] + [""] * 14])
    rc, out = run([os.path.join("scripts", "scan_timeline.py"), tl])
    check(rc == 0 and "t f: 2 blocks, 1 KV heads; warps' end spread within a block median 6.50 max 9.00" in out
          and "its blocks' last warps 6.00 apart (median), its last warp after its median warp median 8.00 (8.00-8.00)" in out
          and "blocks started > 1 us late: 1, their last warp's end median 20.00 against 14.00" in out,
          "scan_timeline worked example:\n" + out)
    os.remove(tl)
    text = open(os.path.join(ROOT, EXP, "scan_timeline_analysis_call132_133.txt")).read()
    for call in ("132", "133"):
        rc, out = run([os.path.join("scripts", "scan_timeline.py"), os.path.join(EXP, "scan_timeline_call%s.csv" % call)])
        check(rc == 0 and out in text, "scan_timeline.py does not regenerate call%s's part of its analysis" % call)
    # compact_timeline.py on a worked record (two blocks of one launch with the scan's end beside them, one launch
    # without it), then the committed analysis of calls 138-141 from their compressed records
    ct = temp_csv(["case", "label", "block", "kv_head", "origin", "wait_us", "warp0_us", "warp1_us", "warp2_us",
                   "warp3_us", "end_us", "scan_end_us"],
                  [["t", "f", "0", "0", "scan", "10.5", "13", "14", "", "", "15", "10.0"],
                   ["t", "f", "1", "0", "scan", "11.0", "12", "12.5", "", "", "16.5", "10.0"],
                   ["u", "f", "0", "0", "compact", "1.0", "2", "", "", "", "3", ""]])
    rc, out = run([os.path.join("scripts", "compact_timeline.py"), ct])
    check(rc == 0 and "t f: 2 blocks; waits returned 1.00 after the scan's last block (median); walk end 3.50 / 3.50 after "
          "the wait (median / max); compact's last block 6.50 after the scan's" in out
          and "u f: 1 blocks, no scan timeline beside it" in out, "compact_timeline worked example:\n" + out)
    os.remove(ct)
    text = open(os.path.join(ROOT, EXP, "compact_timeline_analysis_call138_141.txt")).read()
    for call in ("138", "139", "140", "141"):
        with tempfile.TemporaryDirectory() as td:
            path = os.path.join(td, "ct.csv")
            with lzma.open(os.path.join(ROOT, EXP, "compact_timeline_call%s.csv.xz" % call)) as f:
                open(path, "wb").write(f.read())
            rc, out = run([os.path.join("scripts", "compact_timeline.py"), path])
        check(rc == 0 and out in text, "compact_timeline.py does not regenerate call%s's part of its analysis" % call)
    # the timeline records of call145 (counts 1 and 64 entries apart) and call146 (M_E terms before / after the
    # atomic): the analyses in surv_stride_call145.txt and me_after_atomic_call146.txt
    for call, name in (("145", "surv_stride_call145"), ("146", "me_after_atomic_call146")):
        with tempfile.TemporaryDirectory() as td:
            path = os.path.join(td, "ct.csv")
            with lzma.open(os.path.join(ROOT, EXP, "compact_timeline_call%s.csv.xz" % call)) as f:
                open(path, "wb").write(f.read())
            rc, out = run([os.path.join("scripts", "compact_timeline.py"), path])
        check(rc == 0 and out in open(os.path.join(ROOT, EXP, name + ".txt")).read(),
              "compact_timeline.py does not regenerate the analysis in %s.txt" % name)
    # the compaction's columns (calls 136-137): each block's compaction after the flag, on a worked record; then the
    # analyses in scan_cp_call136.txt and scan_cp_call137.txt
    tl = temp_csv(["case", "label", "block", "kv_head", "start_us"] + warps + ["cp_flag_us", "cp_end_us"],
                  [["t", "f", "0", "0", "0.0"] + ["10"] + [""] * 15 + ["20.0", "29.0"],
                   ["t", "f", "1", "0", "0.0"] + ["11"] + [""] * 15 + ["20.5", "27.0"],
                   ["t", "f", "2", "1", "0.0"] + ["12"] + [""] * 15 + ["21.0", "28.0"]])
    rc, out = run([os.path.join("scripts", "scan_timeline.py"), tl])
    check(rc == 0 and "t f: compaction after the flag per block min 6.50 median 7.00 max 9.00 (3 blocks)" in out,
          "scan_timeline worked example (compaction):\n" + out)
    os.remove(tl)
    for call in ("136", "137"):
        rc, out = run([os.path.join("scripts", "scan_timeline.py"), os.path.join(EXP, "scan_timeline_call%s.csv" % call)])
        check(rc == 0 and out in open(os.path.join(ROOT, EXP, "scan_cp_call%s.txt" % call)).read(),
              "scan_timeline.py does not regenerate the analysis in scan_cp_call%s.txt" % call)
    # gpu_torch_spread.py on four worked runs in two groups 1.9% / 2.4% apart; a run without a shape's time is refused
    hdr = ["device", "commit", "case", "batch", "n_kv", "n_head_q", "n_head_kv", "torch_ms", "rel_err", "gbps"]
    runs = [temp_csv(hdr, [["d", c, "1x131072", 1, 131072, 32, 8, t1, 0, 0], ["d", c, "32x32768", 32, 32768, 32, 8, t32, 0, 0]])
            for c, t1, t32 in (("a", 0.1260, 0.9280), ("c", 0.1284, 0.9500), ("b", 0.1262, 0.9290), ("d", 0.1286, 0.9510))]
    rc, out = run([os.path.join("scripts", "gpu_torch_spread.py")] + runs)
    check(rc == 0 and "4 runs (torch SDPA ms" in out
          and "2 runs: 1 x 128K 0.1260-0.1262, 32 x 32K 0.9280-0.9290 (median 0.1261 / 0.9285); the next group's median "
              "+1.9% / +2.4%\n    a, b\n" in out
          and "2 runs: 1 x 128K 0.1284-0.1286, 32 x 32K 0.9500-0.9510 (median 0.1285 / 0.9505)\n    c, d\n" in out,
          "gpu_torch_spread.py worked example:\n" + out)
    bad = temp_csv(hdr, [["d", "e", "1x131072", 1, 131072, 32, 8, 0.1260, 0, 0]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_torch_spread.py"), runs[0], bad], cwd=ROOT,
                       capture_output=True, text=True)
    check(r.returncode != 0 and bad in r.stderr and "32x32768" in r.stderr,
          "gpu_torch_spread.py on a run without 32 x 32K:\n" + r.stderr)
    bad2 = temp_csv(hdr, [["d", "e", "1x131072", 1, 131072, 32, 8, "nan?", 0, 0]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_torch_spread.py"), bad2], cwd=ROOT,
                       capture_output=True, text=True)
    check(r.returncode != 0 and bad2 in r.stderr and "nan?" in r.stderr and "Traceback" not in r.stderr,
          "gpu_torch_spread.py on a non-numeric time:\n" + r.stderr)
    for path in runs + [bad, bad2]:
        os.remove(path)
    # sink_reference.py's step on a worked KV head (an empty ghostkv module registered: step needs only numpy): the hot keys score
    # 0 but the last token 20 (m_L 20; the sinks' m_S 0, gap 20); 50 candidates at u = −0.5 kept either way, 50 at
    # u = −15 eliminated relative to m_L (50·e^−15 is within the budget) but in the overflow bin relative to m_S
    # (−15 + 20 ≥ 0); with the last token in m_S (--last 1) the two frames agree
    import types
    import numpy as np
    sys.modules.setdefault("ghostkv", types.ModuleType("ghostkv"))
    import sink_reference
    n = 4 + 100 + 64
    sc = np.zeros(n)
    sc[4:54], sc[54:104], sc[n - 1] = 19.5, 5.0, 20.0
    kk = np.zeros((n, 1, 2), dtype=np.float32)
    kk[:, 0, 0] = sc
    qq = np.array([[1.0, 0.0]], dtype=np.float32)
    keep, keep_s, heads = sink_reference.step(qq, kk, sc[None, :], 1.0, n - 1, 0, 1)
    check(keep.mean() == 0.5 and keep_s.mean() == 1.0 and abs(heads[0][0] - 20.0) < 1e-12 and heads[0][1] <= -0.5,
          "sink_reference.step (sinks only): %s %s %s" % (keep.mean(), keep_s.mean(), heads))
    keep, keep_s, heads = sink_reference.step(qq, kk, sc[None, :], 1.0, n - 1, 0, 1, last=1)
    check(keep.mean() == 0.5 and keep_s.mean() == 0.5 and heads[0][0] == 0.0,
          "sink_reference.step (--last 1): %s %s %s" % (keep.mean(), keep_s.mean(), heads))
    # the bound's frame (--base): one candidate 60 below m_L pulls μ down, so m_S = q·μ + ||q||·max ||k_t − μ|| sits
    # far above m_L (gap < −30); the candidates 15 below m_L stay inside the histogram's 64 nats and go as before, the
    # kept ones are kept, the far one falls in the underflow bin: the same decisions
    sc2 = sc.copy()
    sc2[60] = -40.0
    kk2 = np.zeros((n, 1, 2), dtype=np.float32)
    kk2[:, 0, 0] = sc2
    keep, keep_s, heads = sink_reference.step(qq, kk2, sc2[None, :], 1.0, n - 1, 0, 1, base=True)
    check(keep.mean() == 0.5 and np.array_equal(keep, keep_s) and heads[0][0] < -30
          and heads[0][1] + heads[0][0] >= -64,
          "sink_reference.step (--base): %s %s %s" % (keep.mean(), keep_s.mean(), heads))
    for mode in ("knorm", True):  # the --knorm frame is the lower of two sound bounds: never below m_L either
        _, _, heads = sink_reference.step(qq, kk2, sc2[None, :], 1.0, n - 1, 0, 1, base=mode)
        check(heads[0][0] <= 1e-9, "sink_reference.step (%s): the frame below m_L: %s" % (mode, heads))
    # split_cut.py's split_keep on a worked KV head (one head): page 1's 64 candidates at u = −5 (bin edge −4.9375:
    # 64·e^−4.9375 = 0.459), page 2's at u = −30; budget 0.6. The one cut eliminates all 128; split over 2 blocks
    # (page p to block p mod 2) each block's share is 0.3, so the block of page 1 keeps its 64 and the other eliminates
    # its own; with one block, or with both pages at u = −5 and budget 1 (0.918 in all, 0.459 ≤ 0.5 per block), the two agree
    import split_cut
    tok = np.arange(64, 192)
    u = np.where(tok < 128, -5.0, -30.0)[None, :]
    keep, keep_s = split_cut.split_keep(u, [0.6], tok, 2, 1)
    check(keep.sum() == 0 and keep_s.sum() == 64 and keep_s[:64].all(),
          "split_cut.split_keep (uneven blocks): %d %d" % (keep.sum(), keep_s.sum()))
    keep, keep_s = split_cut.split_keep(u, [0.6], tok, 1, 1)
    check(keep.sum() == 0 and keep_s.sum() == 0, "split_cut.split_keep (one block): %d %d" % (keep.sum(), keep_s.sum()))
    keep, keep_s = split_cut.split_keep(np.full((1, 128), -5.0), [1.0], tok, 2, 1)
    check(keep.sum() == 0 and keep_s.sum() == 0, "split_cut.split_keep (even blocks): %d %d" % (keep.sum(), keep_s.sum()))
    # stage1_rows.py on a worked CSV: arm glob (1.40, 1.28: one row ≤ 1.3) and split (1.30: exactly at the bound counts),
    # a commit without an arm ('-'); then a CSV without ghost_vs_floor and one whose stage1_ms is not a number
    hdr = ["commit", "case", "label", "surv_frac", "stage1_ms", "stage1_vs_floor", "ghost_vs_floor", "violations"]
    good = temp_csv(hdr, [["abc-glob", "c1", "forced:0.05", 0.0498, 0.0537, 1.40, 1.6, 0],
                          ["abc-split", "c1", "forced:0.05", 0.0498, 0.0500, 1.30, 1.5, 0],
                          ["abc-glob", "c1", "certified", 1.0, 0.0492, 1.28, 1.1, 0],
                          ["abc", "c2", "certified", 0.25, 0.0190, 8.1, 6.0, 2]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "stage1_rows.py"), good], cwd=ROOT, capture_output=True, text=True)
    out = r.stdout
    check(r.returncode == 0
          and "c1 [glob]\n  forced:0.05        surv 0.0498  stage1   53.70 us  1.400x floor (38.36 us; 1.3x 49.86)  step 1.600x  violations 0\n" in out
          and "  stage 1: 1.280-1.400x its floor, 1 of 2 rows <= 1.3x\nc1 [split]\n" in out
          and "  stage 1: 1.300-1.300x its floor, 1 of 1 rows <= 1.3x\n" in out
          and "c2 [-]\n  certified          surv 0.2500  stage1   19.00 us  8.100x floor (2.35 us; 1.3x 3.05)  step 6.000x  violations 2\n" in out,
          "stage1_rows.py worked example:\n" + out + r.stderr)
    bad = temp_csv(hdr[:6] + hdr[7:], [["a-b", "c", "l", 1, 0.05, 1.3, 0]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "stage1_rows.py"), bad], cwd=ROOT, capture_output=True, text=True)
    check(r.returncode != 0 and bad in r.stderr and "ghost_vs_floor" in r.stderr and "Traceback" not in r.stderr,
          "stage1_rows.py on a CSV without ghost_vs_floor:\n" + r.stderr)
    bad2 = temp_csv(hdr, [["a-b", "c", "l", 1, "x1", 1.3, 1.2, 0]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "stage1_rows.py"), bad2], cwd=ROOT, capture_output=True, text=True)
    check(r.returncode != 0 and bad2 in r.stderr and "stage1_ms" in r.stderr and "'x1'" in r.stderr and "Traceback" not in r.stderr,
          "stage1_rows.py on a non-numeric stage1_ms:\n" + r.stderr)
    for path in (good, bad, bad2):
        os.remove(path)
    # split_timeline_sm.py on two worked launches of 4 blocks on SMs 0-3: SM 2 ends its page loop last in both (lags +3
    # and +2 µs from each launch's median), SM 3's block starts late in the first; then a CSV without smid (refused)
    hdr = ["name", "row", "block", "kv_head", "smid", "start", "wait", "loop_end", "cut_done", "end"]
    tl = temp_csv(hdr, [["x-r1", "forced", 0, 0, 0, 0.8, 5.5, 36, 39, 45], ["x-r1", "forced", 1, 0, 1, 0.8, 5.5, 36, 39, 45],
                        ["x-r1", "forced", 2, 1, 2, 0.8, 5.5, 40, 43, 49], ["x-r1", "forced", 3, 1, 3, 5.5, 6.0, 37, 40, 46],
                        ["x-r2", "forced", 0, 0, 0, 0.8, 5.5, 35, 38, 44], ["x-r2", "forced", 1, 0, 1, 0.8, 5.5, 36, 39, 45],
                        ["x-r2", "forced", 2, 1, 2, 0.8, 5.5, 39, 42, 48], ["x-r2", "forced", 3, 1, 3, 0.8, 5.5, 37, 40, 46]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "split_timeline_sm.py"), tl], cwd=ROOT, capture_output=True,
                       text=True)
    out = r.stdout
    check(r.returncode == 0 and "x-r1 forced: 4; 37.00 / 40.00 / 40.00; 46.00 / 49.00; late 1, 37.00; last 10: 1 late" in out
          and "x-r2 forced: 4; 37.00 / 39.00 / 39.00; 46.00 / 48.00; late 0, nan; last 10: 0 late" in out
          and "largest mean lag (us; launches they ran in): 2: +2.50 (2), 3: +0.00 (2), 1: -1.00 (2), 0: -1.50 (2)" in out
          and "x-r1 forced vs x-r2 forced: +0.95 over 4 SMs; 10 slowest in both: 4" in out,
          "split_timeline_sm.py worked example:\n" + out + r.stderr)
    bad = temp_csv([h for h in hdr if h != "smid"], [["x-r1", "forced", 0, 0, 0.8, 5.5, 36, 39, 45]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "split_timeline_sm.py"), bad], cwd=ROOT, capture_output=True,
                       text=True)
    check(r.returncode != 0 and bad in r.stderr and "smid" in r.stderr and "Traceback" not in r.stderr,
          "split_timeline_sm.py on a CSV without smid:\n" + r.stderr)
    for path in (tl, bad):
        os.remove(path)
    # adaptive_table.py on two worked rows: 1 x 128K at 5% (decoder 80 µs, ghost path 78, dense 130; torch 128 µs) and
    # 32 x 32K at 60% (decoder 990, ghost 1100, dense 980; torch 950; its check failed); then a CSV without adaptive_us
    hdr = ["case", "label", "surv_frac", "steps", "ghost_steps", "dense_steps", "adaptive_us", "ghost_loop_us",
           "dense_loop_us", "check"]
    ad = temp_csv(hdr, [["1x128K-b8", "forced:0.05", 0.05, 200, 198, 2, 80, 78, 130, "ok"],
                        ["32x32K-b8", "real:x", 0.6, 200, 6, 194, 990, 1100, 980, "FAILED"]])
    tq = temp_csv(["case", "torch_ms"], [["1x131072", 0.128], ["32x32768", 0.95]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "adaptive_table.py"), ad, tq], cwd=ROOT, capture_output=True,
                       text=True)
    out = r.stdout
    check(r.returncode == 1
          and "| 1x128K-b8 | forced:0.05 | 5.0% | 198 / 2 | 80.0 | 78.0 | 130.0 | 0.615 | 1.026 | 0.625 | ok |" in out
          and "| 32x32K-b8 | real:x | 60.0% | 6 / 194 | 990.0 | 1100.0 | 980.0 | 1.010 | 1.010 | 1.042 | FAILED |" in out
          and "2 rows; decoder / dense at worst 1.010; decoder / the better path at worst 1.026; decoder / torch SDPA at "
              "worst 1.042; 1 checks failed" in out,
          "adaptive_table.py worked example:\n" + out + r.stderr)
    bad = temp_csv([h for h in hdr if h != "adaptive_us"], [["1x128K-b8", "f", 0.05, 200, 198, 2, 78, 130, "ok"]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "adaptive_table.py"), bad], cwd=ROOT, capture_output=True,
                       text=True)
    check(r.returncode != 0 and bad in r.stderr and "adaptive_us" in r.stderr and "Traceback" not in r.stderr,
          "adaptive_table.py on a CSV without adaptive_us:\n" + r.stderr)
    for path in (ad, tq, bad):
        os.remove(path)
    # adaptive_table.py --phases on a worked run of two phases (5%: decoder 75 µs, ghost 73, dense 135, settled at 0;
    # 100%: decoder 140, ghost 192, dense 135, settled at 22) and a CSV without settled_at
    hdr = ["commit", "case", "phase", "forced_frac", "ghost_steps", "dense_steps", "adaptive_us", "ghost_loop_us",
           "dense_loop_us", "better", "settled_at", "runs", "check"]
    ph = temp_csv(hdr, [["c1-reset", "1x128K-b8", 0, 0.05, 397, 3, 75, 73, 135, "ghost", 0, "g1d1g395d1", "ok"],
                        ["c1-reset", "1x128K-b8", 1, 1.0, 26, 374, 140, 192, 135, "dense", 22, "g22d378", "ok"]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "adaptive_table.py"), "--phases", ph], cwd=ROOT,
                       capture_output=True, text=True)
    out = r.stdout
    check(r.returncode == 0
          and "| c1-reset | 1x128K-b8 | 0 | 5% | 397 / 3 | 75.0 | 73.0 | 135.0 | 1.027 | ghost | 0 | g1d1g395d1 | ok |" in out
          and "| c1-reset | 1x128K-b8 | 1 | 100% | 26 / 374 | 140.0 | 192.0 | 135.0 | 1.037 | dense | 22 | g22d378 | ok |" in out
          and "c1-reset: settled at step 22 in the phases after the first; decoder / the better loop at worst 1.037" in out
          and "2 phases; 0 checks failed" in out,
          "adaptive_table.py --phases worked example:\n" + out + r.stderr)
    bad = temp_csv([h for h in hdr if h != "settled_at"], [["c", "x", 0, 0.05, 1, 1, 1, 1, 1, "ghost", "g2", "ok"]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "adaptive_table.py"), "--phases", bad], cwd=ROOT,
                       capture_output=True, text=True)
    check(r.returncode != 0 and bad in r.stderr and "settled_at" in r.stderr and "Traceback" not in r.stderr,
          "adaptive_table.py --phases on a CSV without settled_at:\n" + r.stderr)
    for path in (ph, bad):
        os.remove(path)
    # gpu_decode_layers.py: per-layer means of a generate --stats-csv file (2 steps x 2 layers)
    hdr = ("step,layer,n_kv,attended_frac,elim_rate,kv_bytes_frac,max_mass_bound,max_mass_lost,max_out_rel_err,"
           "violations,certificate_failures").split(",")
    gd = temp_csv(hdr, [["0", "0", "100", "1.0", "0", "1.2", "1e-4", "nan", "1e-3", "0", "0"],
                        ["0", "1", "100", "0.5", "0.5", "0.6", "9e-4", "nan", "2e-3", "0", "1"],
                        ["1", "0", "101", "0.9", "0.1", "1.1", "2e-4", "nan", "1e-3", "0", "0"],
                        ["1", "1", "101", "0.3", "0.7", "0.4", "5e-4", "nan", "4e-3", "0", "0"]])
    r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_decode_layers.py"), gd], cwd=ROOT, capture_output=True,
                       text=True)
    check(r.returncode == 0 and "4 rows, 2 steps, n_kv 100..101" in r.stdout and "attended per layer: 95.0 40.0" in r.stdout
          and "kv_bytes_frac per layer: 1.150 0.500" in r.stdout and "max mass bound 9.000e-04" in r.stdout
          and "error 4.000e-03, certificate failures 1" in r.stdout
          and "table cells: 67.5 % | 32.5 % | 0.825 | 9.00e-4 | nan | 4.00e-3 | 0" in r.stdout,
          f"gpu_decode_layers.py: {r.stdout} {r.stderr}")
    os.remove(gd)
    # docs/gpu.md's decode-loop rows (int8, int4) are its cells on the recorded CSVs
    doc = open(os.path.join(ROOT, "docs", "gpu.md")).read()
    for bits in ("8", "4"):
        src = os.path.join("results", "gpu", "experiments", "lastcheck_call198", f"gpu_decode_b{bits}.csv")
        r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_decode_layers.py"), src], cwd=ROOT,
                           capture_output=True, text=True)
        m = re.search(r"table cells: (.*)", r.stdout)
        check(m is not None and f"| int{bits} | {m.group(1)} | 0 of 2016 heads |" in doc,
              f"docs/gpu.md's int{bits} decode-loop row against {src}: {r.stdout} {r.stderr}")
    src = os.path.join("results", "gpu", "experiments", "final_call201", "gpu_decode_smollm2_b8.csv")
    r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_decode_layers.py"), src], cwd=ROOT,
                       capture_output=True, text=True)
    m = re.search(r"table cells: (.*)", r.stdout)
    check(m is not None and f"| SmolLM2-135M, int8 | {m.group(1)} | 0 of 17010 heads |" in doc,
          f"docs/gpu.md's SmolLM2 decode-loop row against {src}: {r.stdout} {r.stderr}")
    for name, csv_name in (("low-rank r16", "gpu_decode_lr.csv"), ("low-rank r16, page anchors", "gpu_decode_lr_anc.csv")):
        src = os.path.join("results", "gpu", "experiments", "lowrank_call204", csv_name)
        r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_decode_layers.py"), src], cwd=ROOT,
                           capture_output=True, text=True)
        m = re.search(r"table cells: (.*)", r.stdout)
        check(m is not None and f"| {name} | {m.group(1)} | 0 of 2016 heads |" in doc,
              f"docs/gpu.md's {name} decode-loop row against {src}: {r.stdout} {r.stderr}")
    # gpu_capture_table.py: one column per run kind, one row per capture and layer; errors name the record; docs/gpu.md's
    # table is its output on the record it names
    import gpu_capture_table
    rec = ("+ python3 scripts/gpu_capture_grow.py /x/captures/ghostkv-ref-23m-a --lib-dir p 10:00:00\n"
           "layer 4: basis fitted on 1024 of 4096 tokens; attended 20.73% grown against 20.46% built at once "
           "(mean of 8 queries, 8-bit, delta 0.001); 64 steps checked, 0 failed checks\n"
           "+ python3 scripts/gpu_capture_grow.py /x/captures/ghostkv-ref-23m-a --lib-dir p --bits 4 10:00:01\n"
           "layer 4: basis fitted on 1024 of 4096 tokens; attended 52.87% grown against 48.70% built at once "
           "(mean of 8 queries, 4-bit, delta 0.001); 64 steps checked, 0 failed checks\n"
           "+ python3 scripts/gpu_capture_grow.py /x/captures/SmolLM2-135M-b --lib-dir p --built 256 10:00:02\n"
           "layer 15: basis fitted on 256 of 8192 tokens; attended 60.95% grown against 60.58% built at once "
           "(mean of 8 queries, 8-bit, delta 0.001); 64 steps checked, 0 failed checks\n")
    want = ("| capture, layer | int8, basis on the first quarter | int4, basis on the first quarter | int8, basis on the first 256 |\n"
            "|---|---|---|---|\n| ref23m L4 | 20.73 / 20.46 % | 52.87 / 48.70 % |  |\n| SmolLM2 L15 |  |  | 60.95 / 60.58 % |")
    got = gpu_capture_table.table(rec)
    check(got == want, f"gpu_capture_table: {got!r}")
    for bad, text in (("", "no gpu_capture_grow.py run"), (rec.splitlines()[0] + "\n", "has no layer summary")):
        try:
            gpu_capture_table.table(bad, "rec.txt")
            check(False, f"gpu_capture_table on {bad!r}: no error")
        except ValueError as e:
            check(str(e).startswith("rec.txt: ") and text in str(e), f"gpu_capture_table error: {e}")
    doc = open(os.path.join(ROOT, "docs", "gpu.md")).read()
    m = re.search(r"<!-- gpu-capture-grow:begin \(scripts/gpu_capture_table.py (\S+)\) -->\n(.*?)\n<!-- gpu-capture-grow:end -->",
                  doc, re.S)
    check(m is not None, "docs/gpu.md: the gpu-capture-grow block")
    if m:
        src = os.path.join(ROOT, "results", "gpu", m.group(1))
        check(gpu_capture_table.table(open(src).read(), src) == m.group(2),
              "docs/gpu.md's real-keys table is gpu_capture_table.py's output on its record")
    # gpu_anchor_pages.py: the pages given up, recovered from a row built with the hook's byte count (3 pages of 2 KV
    # heads' 16 skipped at n 1000, d 128, G 2) and from one with none skipped: int8 (the count before ν_max, and with it)
    # and the low-rank witness (36 bytes per token, the 80-byte page anchor, no meta)
    def anc_row(n, att, skipped, tok, page, hkv=2, d=128):
        pages = -(-n // 64)
        b = (hkv * pages - skipped) * 64 * tok + hkv * pages * page + att * n * hkv * 2 * d * 2 + hkv * (d * d * 4 + d * 4)
        return ["0", "1", str(n), "%.6f" % att, "0.5", "%.6f" % (b / (hkv * n * 2 * d * 2)), "1e-4", "1e-5", "1e-3", "0", "0"]
    for wit, tok, page, extra in (("8", 128, 2 * 128 * 2 + 2 * 128 + 4, ["--without-nu"]),
                                  ("8", 128, 2 * 128 * 2 + 4 + 2 * 128 + 4, []), ("lowrank", 36, 4 + 80 + 4, [])):
        ga = temp_csv(hdr, [anc_row(1000, 0.5, 3, tok, page), anc_row(1000, 0.25, 0, tok, page)])
        r = subprocess.run([sys.executable, os.path.join("scripts", "gpu_anchor_pages.py"), ga, "2", "128", "2", wit] + extra,
                           cwd=ROOT, capture_output=True, text=True)
        check(r.returncode == 0 and "rows with at least one: 1" in r.stdout and ".. 3.00" in r.stdout,
              f"gpu_anchor_pages.py {wit} {extra}: {r.stdout} {r.stderr}")
        os.remove(ga)
    # gpu_report.py's row labels
    import gpu_report
    lab = gpu_report.row_label
    check(lab({"label": "forced:0.050000", "anchors": "1", "case": "x"}) == "forced 5% (pages 20% forced)"
          and lab({"label": "forced:0.050000", "anchors": "0", "case": "x", "cut_blocks": "16"}) == "forced 5% [split cut, 16 blocks]"
          and lab({"label": "certified", "case": "x", "cut_blocks": "0"}) == "certified (random data)"
          and lab({"label": "certified", "case": "far"}) == "certified (synthetic far pages)",
          "gpu_report.row_label")
    return check.done("gpu_analysis_scripts")


if __name__ == "__main__":
    sys.exit(main())
