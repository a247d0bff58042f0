#!/usr/bin/env bash
# main after the hygiene commits (483a4b2: gpu_bench's Timer::destroy and shared agreement lines, the fused kernel's
# env switches through env_switch; decode.cu's SASS identical to e743355's kernels): every check row
# (gpu_bench.sh quick), then one timed row with --timing graph and --timing eager (Timer's captures), and the env
# switch's refusal of a value other than 0 / 1. One H200; everything under $OUT as written.
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
OUT="$O/quick" timeout -k 10 240 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$O/quick/log.txt"), passed: $(grep -c 'all checks passed' "$O/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$O/quick/log.txt" | head -10
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  for t in graph eager; do
    echo "+ timing $t"
    timeout -k 5 90 $b --device "$dev" --commit "$cm-$t" --csv "$O/ab/ab.csv" --name "$t-32x32K-lowrank-anc" --bits lowrank --anchors \
      --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1 --fracs 0.05 --timing $t --breakdown 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|timing|fused low-rank"
    echo "rc=${PIPESTATUS[0]}"
  done
  echo "+ GHOSTKV_LR_FUSED=2 (must be refused)"
  GHOSTKV_LR_FUSED=2 timeout -k 5 60 $b --device "$dev" --commit "$cm-bad" --name bad --bits lowrank --anchors --batch 2 --n 4160 --fracs 0.05 --check-only 2>&1 | tail -2
  echo "rc=${PIPESTATUS[0]}"
) > "$O/ab/stdout.txt" 2>&1
cat "$O/ab/stdout.txt" | cut -c1-250
tar -C "$O" -cJf "$O/call105.tar.xz" ab quick && rm -rf "$O/ab" "$O/quick"
echo "total $(( $(date +%s) - t0 )) s"
