#!/usr/bin/env bash
# dense_decode writing each head's exact certificate from its last kernel (merge, or attend with one split) where
# p.cert is given, instead of AdaptiveDecoder's separate certificate kernel after it. One binary each of the bench and
# the example (commit in COMMIT); one H200; everything under $OUT. First the checks (every bench run checks its dense
# baseline's certificates; small rows with one split and with the grid's own, G 1-4, d 64, poisoned outputs), then
# call178's rows with the decoder's final defaults and torch SDPA in the same call (int8 at both shapes with the real
# fractions, int4 at 1 x 128K, low-rank with anchors at both), then memcheck over the example (8 adaptive steps).
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
e=.gpu_carry/ghostkv_gpu_example
extra="real:ref23m-L1=0.749519,real:ref23m-L4=0.302972,real:ref23m-L7=0.800426,real:smollm2-L1=0.649026,real:smollm2-L15=0.532074,real-heads:ref23m-L1=0.4999/0.7506/0.9224/0.4930/0.9182/0.5334/0.9128/0.5750/0.9163/0.6211/0.5708/0.8594/0.9491/0.9647/0.7999/0.7051,real-heads:ref23m-L4=0.2756/0.2293/0.3103/0.1532/0.3212/0.2361/0.3805/0.2562/0.4025/0.2686/0.5184/0.7541/0.1828/0.2349/0.0822/0.2418,real-heads:ref23m-L7=0.6414/0.9105/0.6333/0.8483/0.8066/0.8285/0.6876/0.8395/0.8271/0.9409/0.7606/0.9473/0.8473/0.9873/0.5757/0.7249,real-heads:smollm2-L1=0.2195/0.7976/0.6261/0.5423/0.7929/0.5419/0.5752/0.8661/0.5279/0.6893/0.9187/0.5504/0.7234/0.6037/0.5549/0.5150/0.7652/0.5569/0.4083/0.9233/0.5997/0.7169/0.9071/0.6541,real-heads:smollm2-L15=0.2050/0.4702/0.7933/0.2847/0.5690/0.7602/0.3922/0.6165/0.8443/0.3272/0.5910/0.5762/0.2397/0.6297/0.7934/0.2584/0.6074/0.7961/0.3229/0.4827/0.6203/0.2935/0.5475/0.7484"
run() { [ $(( $(date +%s) - t0 )) -lt "$1" ] || { echo "skipped (time): ${*:2}"; return 0; }; shift
        echo "+ $* $(date +%T)"; timeout -k 5 200 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$OUT/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# dense|checks|FAIL|rror" | head -6; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk rand8-s1 --batch 2 --n 4160 --fracs 0.05 --poison --check-batches 2 --splits 1
  chk rand4-b26 --bits 4 --batch 26 --n 2100 --fracs 0.05 --check-batches 2
  chk g3-d64-4 --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2
  chk g2-8-s1 --hq 16 --hkv 8 --batch 2 --n 5000 --fracs 0.05 --check-batches 2 --splits 1
  chk g1-mixed --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2
) > "$OUT/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$OUT/checks.txt") passed of $(grep -c '^+ check' "$OUT/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$OUT/checks.txt" | cut -c1-200 | head
A=(--device "$dev" --commit "$cm" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive.csv" --adaptive-steps 200)
(
  run 300 $b "${A[@]}" --name 1x128K-b8 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2,1 --extra "$extra"
  run 330 $b "${A[@]}" --name 32x32K-b8 --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2,1 --extra "$extra"
  run 360 python3 scripts/gpu_torch_sdpa.py --cases 1x131072,32x32768 --reps 50 --csv "$OUT/gpu_torch.csv" --device-name "$dev" --commit "$cm"
  run 380 $b "${A[@]}" --name 1x128K-b4 --bits 4 --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2,1 --extra "$extra"
  run 430 $b "${A[@]}" --name 1x128K-lowrank-anc --bits lowrank --anchors --batch 1 --n 131072 --reps 20 --check-batches 1 --fracs 0.01,0.05,0.2
  run 450 $b "${A[@]}" --name 32x32K-lowrank-anc --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 10 --check-batches 1 --fracs 0.01,0.05,0.2
) > "$OUT/bench.txt" 2>&1
grep -E "^\+|^rc=|^# adaptive|^# dense|FAIL|rror|skipped" "$OUT/bench.txt" | cut -c1-330
(
  run 470 $e 131072 0.5
  run 480 compute-sanitizer --tool memcheck $e 4096 0.9 8
) > "$OUT/example.txt" 2>&1
grep -E "^\+|^rc=|attended|adaptive|every|FAILED|SUMMARY|rror|skipped" "$OUT/example.txt"
xz -9 "$OUT/bench.txt"
echo "total $(( $(date +%s) - t0 )) s"
