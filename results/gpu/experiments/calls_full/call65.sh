#!/usr/bin/env bash
# The low-fraction branch where the full run (call63 + call64) took it: 32 × 32K int4 and low-rank with anchors,
# forced 5% (pages 20%), the rule (6 splits) against --splits 1, ABAB; then 32 × 32K int8 per-head rows at means of
# 5% and 10% whose most / mean is 1.2-2.0 (one KV head high, or half of them), --splits 1 against --splits 6, ABAB.
# One H200; everything under $OUT as written; a watchdog tars it at 500 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 500; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call65_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  b=.gpu_carry/ghostkv_gpu_bench
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv")
  abrun() { [ $(( $(date +%s) - t0 )) -lt 450 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 80 "$@" 2>&1 | grep -E "^forced|^certified|^one|^half|checks|FAIL|rror|^# dense" | cut -c1-200; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for w in 4 lowrank; do
    for s in auto 1 auto 1; do
      sp=(); [ "$s" = auto ] || sp=(--splits "$s")
      abrun $b "${ab[@]}" --name "anc-s$s-32x32K-$w" --bits $w --anchors "${big[@]}" --fracs 0.05 "${sp[@]}"
    done
  done
  heads="$(python3 -c "
out = []
for m in (0.05, 0.10):
    for r in (1.2, 1.4, 2.0):
        hi = r * m
        one = [hi] + [(8 * m - hi) / 7] * 7
        half = [hi] * 4 + [(2 - r) * m] * 4
        out.append('one%d-%d=%s' % (round(m * 100), round(r * 10), '/'.join('%.4f' % f for f in one)))
        out.append('half%d-%d=%s' % (round(m * 100), round(r * 10), '/'.join('%.4f' % f for f in half)))
print(','.join(out))")"
  echo "heads: $heads"
  for s in 1 6 1 6; do
    abrun $b "${ab[@]}" --name "low-s$s-32x32K-b8" "${big[@]}" --fracs 0.05 --extra "$heads" --splits $s
  done
) > "$O/ab/stdout.txt" 2>&1
kill $wd 2>/dev/null
cat "$O/ab/stdout.txt" | cut -c1-160 | tail -80
tar -C "$O" -cJf "$O/call65.tar.xz" ab && rm -rf "$O/ab" "$O/call65_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
