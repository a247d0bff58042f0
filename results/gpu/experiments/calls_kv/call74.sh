#!/usr/bin/env bash
# How each run is timed: a CUDA-graph replay (--timing graph, as published) against the same kernels launched directly
# on the stream behind the flush (--timing eager, as torch SDPA is timed), same binary, alternating g e e g: 1 × 128K
# int8 5/20/100% and two real fractions, 1 × 128K int4 5%, 32 × 32K int8 5/20%, low-rank with anchors 5% at 32 × 32K;
# then torch SDPA. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 540; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call74_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 470 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|^real|checks|FAIL|rror|^# dense|^# timing"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  one=(--batch 1 --n 131072 --reps 30 --check-batches 1)
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for t in graph eager eager graph; do
    ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab_$t.csv" --timing "$t")
    abrun $b "${ab[@]}" --name "t$t-1x128K-b8" "${one[@]}" --fracs 0.05,0.2,1 --extra real:ref23m-L4=0.3028,real:smollm2-L1=0.6489
    abrun $b "${ab[@]}" --name "t$t-1x128K-b4" --bits 4 "${one[@]}" --fracs 0.05
    abrun $b "${ab[@]}" --name "t$t-32x32K-b8" "${big[@]}" --fracs 0.05,0.2
    abrun $b "${ab[@]}" --name "t$t-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05
  done
  echo "+ torch $(date +%T)"
  timeout -k 5 60 python3 scripts/gpu_torch_sdpa.py --cases 1x131072,32x32768 --reps 50 --csv "$O/ab/torch.csv" --device-name "$dev" --commit "$cm" 2>&1 | tail -3
) > "$O/ab/stdout.txt" 2>&1
kill $wd 2>/dev/null
grep -vE "^  " "$O/ab/stdout.txt" | cut -c1-200 | tail -80
tar -C "$O" -cJf "$O/call74.tar.xz" ab && rm -rf "$O/ab" "$O/call74_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
