#!/usr/bin/env bash
# The anchored quant scans at 16 warps (GHOSTKV_SCAN_WARPS=16; the rule of ed7fd22 keeps 8 with anchors): checks with
# --poison on small anchored rows (int8, int4, mixed, far pages), compute-sanitizer's four tools on anc8-far-b3 and
# anc4-far at 16 warps, then 1 x 128K with anchors at 5% (forced; certified) for int8, mixed and int4, 8 against 16
# warps, in turn, twice (the order swapped the second time). One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab" /tmp/san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 290 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for r in "anc8-far:--anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05,1" "anc4-far:--bits 4 --anchors --far-pages 0.5 --batch 2 --n 4160 --fracs 0.2" \
           "ancmixed-far:--bits mixed --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05" "anc8:--anchors --batch 3 --n 8256 --fracs 0.05"; do
    nm=${r%%:*}; opts=${r#*:}
    abrun env GHOSTKV_SCAN_WARPS=16 $b --device "$dev" --commit "$cm-w16" --csv "$O/ab/checks.csv" --name "w16-check-$nm" --reps 3 --check-batches 3 --poison $opts
  done
  GHOSTKV_SCAN_WARPS=16 GHOSTKV_SMALL_ROWS="anc8-far-b3 anc4-far" GHOSTKV_SANITIZE_BUDGET_S=120 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
    timeout -k 5 130 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
  echo "sanitize (16 warps) rc=$? $(( $(date +%s) - t0 )) s"
  grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
  ab() { local w=$1 nm=$2; shift 2; abrun env GHOSTKV_SCAN_WARPS=$w $b --device "$dev" --commit "$cm-w$w" --csv "$O/ab/ab.csv" --name "$nm" --reps 20 --check-batches 1 --fracs 0.05 "$@"; }
  for rep in 1 2; do
    for bits in 8 mixed 4; do
      if [ $rep = 1 ]; then order="8 16"; else order="16 8"; fi
      for w in $order; do ab $w "1x128K-anc-$bits" --batch 1 --n 131072 --bits $bits --anchors; done
    done
  done
) > "$O/ab/stdout.txt" 2>&1
tar -C /tmp -cJf "$O/sanitize.tar.xz" san
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|^sanitize" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-120 | tail -70
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
