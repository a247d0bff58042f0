#!/usr/bin/env bash
# prep's L2 prefetches (ce45ad1, branch next/prefetch): every check row (gpu_bench.sh quick) with the default
# (GHOSTKV_PREP_PREFETCH=3: the e^{edge} table and the fused kernel's page anchors), then the A/B in turn, twice:
# GHOSTKV_PREP_PREFETCH 0 / 3 on 32 x 32K low-rank with anchors (5 / 20%), 1 x 128K int8 (5%) and 32 x 32K int4 with
# anchors (5%); every row checked against float64 first. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"
mkdir -p "$O/quick" "$O/ab"
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
OUT="$O/quick" timeout -k 10 220 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$O/quick/log.txt"), passed: $(grep -c 'all checks passed' "$O/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$O/quick/log.txt" | head -10
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 540 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for rep in 1 2; do
    for pf in 0 3; do
      abrun env GHOSTKV_PREP_PREFETCH=$pf $b --device "$dev" --commit "$cm-pf$pf" --csv "$O/ab/ab.csv" --name "pf$pf-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05,0.2
      abrun env GHOSTKV_PREP_PREFETCH=$pf $b --device "$dev" --commit "$cm-pf$pf" --csv "$O/ab/ab.csv" --name "pf$pf-1x128K-b8" --bits 8 --batch 1 --n 131072 --reps 30 --check-batches 1 --fracs 0.05
      abrun env GHOSTKV_PREP_PREFETCH=$pf $b --device "$dev" --commit "$cm-pf$pf" --csv "$O/ab/ab.csv" --name "pf$pf-32x32K-b4-anc" --bits 4 --anchors "${big[@]}" --fracs 0.05
    done
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -70
tar -C "$O" -cJf "$O/call104.tar.xz" ab quick && rm -rf "$O/ab" "$O/quick"
echo "total $(( $(date +%s) - t0 )) s"
