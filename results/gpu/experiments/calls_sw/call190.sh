#!/usr/bin/env bash
# Same-call A/B of two binaries at 1 x 128K: arm old (7b1a239's kernels: the cut writes the certificate's budget and
# m_L, Certificate with 4 bytes of padding) against arm new (f5798de, the published run's: prep writes them, no
# padding), because the full run of f5798de (calls 188-189) had 1 x 128K stage 1 0.9-1.3 us above 3d297cf's on the split
# rows. int8 with the split cut at 1 / 5 / 20% forced and certified, int4 and mixed split and int8 with the one cut at
# 5% and certified; arms in the order old new new old; 30 reps, each run checked against float64 first. Then each
# binary's resource usage (registers, stack) of prep and the scan's split builds. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
for a in old new; do xz -dc .gpu_carry/bench_$a.xz > .gpu_carry/bench_$a && chmod +x .gpu_carry/bench_$a; done
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
(
  abrun() { [ $(( $(date +%s) - t0 )) -lt 450 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror" | head -12; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2
         abrun .gpu_carry/bench_$a --device "$dev" --commit "$cm-$a" --csv "$OUT/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@"; }
  for a in old new new old; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.05,0.2 --cut-split; done
  for w in 4 mixed; do
    for a in old new new old; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w --fracs 0.05 --cut-split; done
  done
  for a in old new new old; do ab $a "1x128K-8-glob" --batch 1 --n 131072 --bits 8 --fracs 0.05; done
) > "$OUT/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$OUT/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-160 | head -90
for a in old new; do
  cuobjdump --dump-resource-usage .gpu_carry/bench_$a 2>/dev/null | grep -A1 -E "prep_kernel|scan_kernel" | \
    grep -oE "(prep|scan)_kernelI[^ ]*|REG:[0-9]+|STACK:[0-9]+" | paste - - - > "$OUT/res_usage_$a.txt"
  echo "res_usage $a: $(wc -l < "$OUT/res_usage_$a.txt") builds; stack > 0: $(grep -vc 'STACK:0' "$OUT/res_usage_$a.txt")"
done
diff "$OUT/res_usage_old.txt" "$OUT/res_usage_new.txt" | head -40
echo "total $(( $(date +%s) - t0 )) s"
