#!/usr/bin/env bash
# The quant scan's page order, second A/B: GHOSTKV_SCAN_DYN with each warp's pages claimed two ahead (call68 claimed
# them one ahead: slower) and GHOSTKV_SCAN_MIX, configurations 00 01 11 twice on 1 × 128K int8 (5%, 20%), int4 (5%)
# and int4 with anchors (20%). One H200; everything under $OUT as written; a watchdog tars it at 400 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 400; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call69_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 370 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 80 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense" | cut -c1-200; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  one=(--batch 1 --n 131072 --reps 30 --check-batches 1)
  for cfg in 00 01 11 00 01 11; do
    export GHOSTKV_SCAN_DYN=${cfg:0:1} GHOSTKV_SCAN_MIX=${cfg:1:1}
    abrun $b "${ab[@]}" --name "dm$cfg-1x128K-b8" "${one[@]}" --fracs 0.05,0.2
    abrun $b "${ab[@]}" --name "dm$cfg-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05
    abrun $b "${ab[@]}" --name "dm$cfg-1x128K-b4-anc" --bits 4 --anchors "${one[@]}" --fracs 0.2
  done
) > "$O/ab/stdout.txt" 2>&1
kill $wd 2>/dev/null
cat "$O/ab/stdout.txt" | cut -c1-160 | tail -90
tar -C "$O" -cJf "$O/call69.tar.xz" ab && rm -rf "$O/ab" "$O/call69_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
