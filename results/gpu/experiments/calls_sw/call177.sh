#!/usr/bin/env bash
# The library's adaptive fallback (kernels/adaptive.h: AdaptiveDecoder, ghost or dense per step from the earlier steps'
# survivor fractions and times; dense steps write exact certificates). One binary each of the example and the bench
# (commit in COMMIT); one H200; everything under $OUT.
#  1. examples/gpu_decode at 131072 tokens with 0.5 / 0.9 / 0.97 of the pages far, 32768 at 0.9: each path alone and the
#     decoder, 400 steps back to back; every head of the checked step and of the decoder's last step within its certificate;
#     compute-sanitizer memcheck and racecheck over the example at 4096 tokens (40 adaptive steps).
#  2. gpu_bench --adaptive-steps 200 at 1 x 128K and 32 x 32K, int8, forced 1 / 5 / 20 / 100% and the real captures'
#     fractions (mean and per head, the published run's), every row checked against float64 first; torch SDPA at both shapes.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
e=.gpu_carry/ghostkv_gpu_example
(
  for a in "131072 0.5" "131072 0.9" "131072 0.97" "32768 0.9"; do echo "+ example $a"; timeout -k 5 120 $e $a; echo "rc=$?"; done
  for tool in memcheck racecheck; do
    echo "+ compute-sanitizer --tool $tool example 4096 0.9 40"
    timeout -k 5 240 compute-sanitizer --tool $tool $e 4096 0.9 40 2>&1 | grep -E "ERROR SUMMARY|RACECHECK SUMMARY|adaptive|every|FAILED|rror" | head -8
  done
) > "$OUT/example.txt" 2>&1
grep -E "^\+|attended|adaptive|every|FAILED|SUMMARY|rc=" "$OUT/example.txt"
echo "example done $(( $(date +%s) - t0 )) s"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
extra="real:ref23m-L1=0.749519,real:ref23m-L4=0.302972,real:ref23m-L7=0.800426,real:smollm2-L1=0.649026,real:smollm2-L15=0.532074,real-heads:ref23m-L1=0.4999/0.7506/0.9224/0.4930/0.9182/0.5334/0.9128/0.5750/0.9163/0.6211/0.5708/0.8594/0.9491/0.9647/0.7999/0.7051,real-heads:ref23m-L4=0.2756/0.2293/0.3103/0.1532/0.3212/0.2361/0.3805/0.2562/0.4025/0.2686/0.5184/0.7541/0.1828/0.2349/0.0822/0.2418,real-heads:ref23m-L7=0.6414/0.9105/0.6333/0.8483/0.8066/0.8285/0.6876/0.8395/0.8271/0.9409/0.7606/0.9473/0.8473/0.9873/0.5757/0.7249,real-heads:smollm2-L1=0.2195/0.7976/0.6261/0.5423/0.7929/0.5419/0.5752/0.8661/0.5279/0.6893/0.9187/0.5504/0.7234/0.6037/0.5549/0.5150/0.7652/0.5569/0.4083/0.9233/0.5997/0.7169/0.9071/0.6541,real-heads:smollm2-L15=0.2050/0.4702/0.7933/0.2847/0.5690/0.7602/0.3922/0.6165/0.8443/0.3272/0.5910/0.5762/0.2397/0.6297/0.7934/0.2584/0.6074/0.7961/0.3229/0.4827/0.6203/0.2935/0.5475/0.7484"
(
  run() { [ $(( $(date +%s) - t0 )) -lt 470 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 200 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
  run $b --device "$dev" --commit "$cm" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive.csv" --adaptive-steps 200 \
    --name 1x128K-b8 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2,1 --extra "$extra"
  run $b --device "$dev" --commit "$cm" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive.csv" --adaptive-steps 200 \
    --name 32x32K-b8 --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2,1 --extra "$extra"
  run python3 scripts/gpu_torch_sdpa.py --cases 1x131072,32x32768 --reps 50 --csv "$OUT/gpu_torch.csv" --device-name "$dev" --commit "$cm"
) > "$OUT/bench.txt" 2>&1
grep -E "^\+|^rc=|^# adaptive|FAIL|rror|skipped" "$OUT/bench.txt" | cut -c1-330
echo "total $(( $(date +%s) - t0 )) s"
