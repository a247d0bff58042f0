#!/usr/bin/env bash
# The quant scan's 16-warp rule (ed7fd22) at shapes other than 1 x 128K where its cut is the global one: 4 x 32K and
# 8 x 16K (B*Hkv 32 and 64), int8 / int4 / mixed at 5% forced, GHOSTKV_SCAN_WARPS=8 against 16 (the rule), in turn,
# twice; then the anchored scans at 1 x 128K (int4 and int8 with anchors, 5%), 8 against 16 warps, once each (the rule
# keeps 8 there). Every run checks one batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 500 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local w=$1 nm=$2; shift 2; abrun env GHOSTKV_SCAN_WARPS=$w $b --device "$dev" --commit "$cm-w$w" --csv "$O/ab/ab.csv" --name "$nm" --reps 20 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    for shape in "4x32K:--batch 4 --n 32768" "8x16K:--batch 8 --n 16384"; do
      nm=${shape%%:*}; opts=${shape#*:}
      for bits in 8 4 mixed; do
        if [ $rep = 1 ]; then order="8 16"; else order="16 8"; fi
        for w in $order; do ab $w "$nm-$bits" $opts --bits $bits; done
      done
    done
  done
  for bits in 4 8; do for w in 8 16; do ab $w "1x128K-anc-$bits" --batch 1 --n 131072 --bits $bits --anchors; done; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-120 | tail -80
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
