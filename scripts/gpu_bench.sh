#!/usr/bin/env bash
# The GPU decode path on the device, in one call: correctness first (small random cases and real
# captures, every check against float64), then the timed cases, the torch SDPA baseline, the ghost
# tier over PCIe, and Nsight Compute DRAM bytes. Needs .gpu_carry/ from scripts/gpu_carry.sh.
#   scripts/gpu_bench.sh [quick|full|main|sanitize|multi]
# Writes gpu_bench.csv, gpu_tier.csv, gpu_torch.csv, ncu.csv, device.txt and log.txt to $OUT (or results/gpu/run/);
# scripts/gpu_report.py turns them into results/gpu/*.csv and the table of docs/gpu.md.
#   sanitize: compute-sanitizer (memcheck, racecheck, synccheck, initcheck) over small checked rows that
#     reach every kernel build family (--check-only: no timing; each row's step also replayed as a CUDA
#     graph), the four tools in parallel over the machine's GPUs; sanitize_TOOL.txt per tool.
#   multi: the checks on every GPU of the machine in turn, in one process (--gpus 0,1,..: per-device state).
#   sanitize and multi take every small row, or those named in $GHOSTKV_SMALL_ROWS (names, space-separated).
#   quick: the checks (step 1) alone; main: the rest alone (steps 2-6), after a quick run whose gpu_bench.csv is
#     $GHOSTKV_CHECKS_CSV (default .gpu_carry/checks_gpu_bench.csv): its rows start main's gpu_bench.csv and its
#     captures' certified rows give the real fractions, so quick + main in two calls (a full run past one call's time
#     limit) write what full writes (log.txt: each call's own).
set -uo pipefail
mode="${1:-full}"
source "$(dirname "$0")/gpu_env.sh" log.txt
export OMP_NUM_THREADS="$(nproc)"
bench="$carry/ghostkv_gpu_bench"
device="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
commit="$(cat "$carry/COMMIT" 2>/dev/null || echo unknown)"
common=(--device "$device" --commit "$commit" --csv "$out/gpu_bench.csv")
nvidia-smi --query-gpu=name,driver_version,temperature.gpu,clocks.sm,clocks.mem,power.draw --format=csv
# the device's own record (nvidia-smi -q without serial numbers, UUIDs and PDIs: VBIOS, board, clocks, power limits, ECC,
# PCIe): the name and clocks above read the same on allocations whose timings differ by 2% (docs/gpu.md)
nvidia-smi -q 2>/dev/null | grep -viE "serial|uuid|\bpdi\b" > "$out/device.txt" || true
fail=0
run() { echo "+ $*"; "$@" || { echo "FAILED ($?): $*"; fail=1; }; }

# small checked rows for the sanitizer and the multi-GPU run: every witness, anchors (partial last pages),
# G 1 / 2 / 3, d 64, the local cut (GHOSTKV_SCAN_OCC=1 at 17 × 8 KV heads), the ready lists, one split
# (attend finishing the heads), the low-rank anchor stage at two pages per lane (300 × 8 KV heads: more
# 32-page items than its resident warps on an H200), 98 splits (merge's widest build, attend's first tiles past the
# list and past max_seq), prep in clusters of 2 (8 sequences), balanced splits (per-KV-head forced fractions), the split
# cut (--cut-split: several scan blocks per KV head, a partial last page at 3 × 3000); "ENV=..:" prefixes set an environment variable for the row
small_rows=(
  "rand8:--batch 2 --n 4160 --fracs 0.05,1 --poison"
  "rand4:--bits 4 --batch 2 --n 4160 --fracs 0.2"
  "mixed:--bits mixed --batch 2 --n 4160 --fracs 0.05"
  "lowrank:--bits lowrank --batch 2 --n 4160 --fracs 0.05,1"
  "anc8-far-b3:--anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05"
  "anc4-far:--bits 4 --anchors --far-pages 0.5 --batch 2 --n 4160 --fracs 0.2"
  "lowrank-anc-far-b3:--bits lowrank --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05"
  "g1-mixed-anc-far:--hq 8 --hkv 8 --bits mixed --anchors --far-pages 0.5 --batch 2 --n 3000 --fracs 0.2"
  "g3-d64-4:--d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05"
  "g2-lowrank-anc-far:--hq 16 --hkv 8 --bits lowrank --anchors --far-pages 0.5 --batch 2 --n 3000 --fracs 0.05"
  "GHOSTKV_SCAN_OCC=1:rand4-cutlocal:--bits 4 --batch 17 --n 2100 --check-batches 2 --fracs 0.2"
  "GHOSTKV_SCAN_OCC=1:lowrank-anc-far-cutlocal:--bits lowrank --anchors --far-pages 0.5 --batch 17 --n 2100 --check-batches 2 --fracs 0.05"
  "GHOSTKV_COMPACT_READY=1:anc4-far-ready:--bits 4 --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.2"
  "GHOSTKV_COMPACT_READY=1:rand8-ready-fin:--batch 2 --n 4160 --splits 1 --fracs 0.05,1"
  "lowrank-anc-far-ppl2:--bits lowrank --anchors --far-pages 0.5 --batch 300 --n 600 --check-batches 2 --fracs 0.05"
  "splits98:--batch 1 --n 2000 --splits 98 --fracs 0.05,1"
  "prep-cl2:--batch 8 --n 2000 --check-batches 2 --fracs 0.05,1"
  "heads8:--batch 2 --n 4160 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
  "heads8-b4:--batch 4 --n 8256 --check-batches 2 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
  "heads8-splits98:--batch 1 --n 32768 --check-batches 1 --splits 98 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
  "rand8-split:--batch 2 --n 4160 --fracs 0.05,1 --poison --cut-split"
  "rand4-split:--bits 4 --batch 2 --n 4160 --fracs 0.2 --cut-split"
  "mixed-split-b3:--bits mixed --batch 3 --n 3000 --fracs 0.05 --cut-split"
  "g3-d64-4-split:--d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --cut-split"
  "g2-8-split:--hq 16 --hkv 8 --batch 2 --n 3000 --fracs 0.05,1 --cut-split"
)
# the small rows a mode takes: every one, or those named in $GHOSTKV_SMALL_ROWS (an unknown name is an error)
row_name() { local r="$1"; while [[ "$r" == GHOSTKV_*=*:* ]]; do r="${r#*:}"; done; echo "${r%%:*}"; }
selected_rows=()
for row in "${small_rows[@]}"; do
  [ -z "${GHOSTKV_SMALL_ROWS:-}" ] || [[ " $GHOSTKV_SMALL_ROWS " == *" $(row_name "$row") "* ]] && selected_rows+=("$row")
done
for want in ${GHOSTKV_SMALL_ROWS:-}; do
  found=0
  for row in "${small_rows[@]}"; do [ "$(row_name "$row")" = "$want" ] && found=1; done
  [ "$found" = 1 ] || { echo "gpu_bench.sh: GHOSTKV_SMALL_ROWS names '$want', which is not a small row"; exit 2; }
done
# run_small BENCH_PREFIX... -- EXTRA_OPTS...: every selected small row (check batches: all, unless the row says);
# with $deadline (epoch seconds) set, the rows not started by then are listed as skipped
run_small() {
  local pre=() extra=() row envs name opts
  while [ "$1" != "--" ]; do pre+=("$1"); shift; done
  shift
  extra=("$@")
  for row in "${selected_rows[@]}"; do
    envs=()
    while [[ "$row" == GHOSTKV_*=*:* ]]; do envs+=("${row%%:*}"); row="${row#*:}"; done
    name="${row%%:*}"; opts=(${row#*:})
    [[ " ${opts[*]} " == *" --check-batches "* ]] || opts+=(--check-batches 3)
    if [ -n "${deadline:-}" ] && [ "$(date +%s)" -ge "$deadline" ]; then echo "skipped (time budget): $name"; fail=1; continue; fi
    run env "${envs[@]}" "${pre[@]}" "$bench" "${common[@]}" --name "$name" "${opts[@]}" --reps 1 "${extra[@]}"
  done
}
if [ "$mode" = sanitize ]; then
  san="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -1 || true)"
  [ -n "$san" ] || { echo "gpu_bench.sh sanitize: compute-sanitizer not found"; exit 1; }
  "$san" --version | head -2
  gpus=(${GHOSTKV_SANITIZE_GPUS:-$(seq 0 $(( $(nvidia-smi -L | wc -l) - 1 )))})  # the GPUs the tools take in turn
  export OMP_NUM_THREADS=$(( $(nproc) / 4 > 0 ? $(nproc) / 4 : 1 ))
  # rows not started by then are skipped, a row running longer is stopped (both count as failures)
  deadline=$(( $(date +%s) + ${GHOSTKV_SANITIZE_BUDGET_S:-1800} ))
  i=0
  tools=(${GHOSTKV_SANITIZE_TOOLS:-memcheck racecheck synccheck initcheck})
  for tool in "${tools[@]}"; do
    (
      export CUDA_VISIBLE_DEVICES="${gpus[i % ${#gpus[@]}]}"
      t0=$(date +%s)
      fail=0
      topts=()  # racecheck and synccheck track the kernels' mbarriers (the default table overflowed for the int4 scan)
      [ "$tool" = racecheck ] || [ "$tool" = synccheck ] && topts=(--num-cuda-barriers "${GHOSTKV_SANITIZE_BARRIERS:-1024}")
      run_small timeout --kill-after=30 "${GHOSTKV_SANITIZE_ROW_S:-900}" "$san" --tool "$tool" "${topts[@]}" --error-exitcode 9 --print-limit 30 -- \
        --check-only >"$out/sanitize_$tool.txt" 2>&1
      clean="$(grep -cE 'ERROR SUMMARY: 0 errors|RACECHECK SUMMARY: 0 hazards' "$out/sanitize_$tool.txt")"
      echo "sanitize $tool: fail=$fail, $clean rows with 0 errors of ${#selected_rows[@]}, $(( $(date +%s) - t0 )) s" | tee -a "$out/sanitize_$tool.txt"
      exit "$fail"
    ) &
    i=$((i + 1))
  done
  sfail=0
  for tool in "${tools[@]}"; do wait -n || sfail=1; done
  grep -h "^sanitize \|ERROR SUMMARY\|RACECHECK SUMMARY\|FAILED" "$out"/sanitize_*.txt | sort | uniq -c
  echo "gpu_bench.sh sanitize: fail=$sfail"
  exit "$sfail"
fi
if [ "$mode" = multi ]; then
  ngpu="$(nvidia-smi -L | wc -l)"
  [ "$ngpu" -ge 2 ] || { echo "gpu_bench.sh multi: needs 2 or more GPUs, found $ngpu"; exit 1; }
  run_small -- --check-only --gpus "$(seq -s, 0 $((ngpu - 1)))"
  echo "gpu_bench.sh multi: fail=$fail"
  exit "$fail"
fi
# each capture's second layer (its only one where it has one) at 8 bits, forced 100% and certified:
#   cap_rows NAME_SUFFIX QUERIES REPS [more bench options]
cap_rows() {
  local suffix=$1 q=$2 reps=$3 cap l
  shift 3
  for cap in "$carry"/captures/*; do
    [ -d "$cap" ] || continue
    l="$(python3 -c "import json,sys; L = json.load(open(sys.argv[1]+'/manifest.json'))['layers']; print(L[min(1, len(L) - 1)])" "$cap")"
    run "$bench" "${common[@]}" --mode capture --capture "$cap" --layer "$l" --bits 8 --queries "$q" --reps "$reps" "$@" \
      --fracs 1 --name "$(basename "$cap")-L$l-b8-$suffix"
  done
}

if [ "$mode" = main ]; then  # step 1 comes from a quick run's CSV
  checks_csv="${GHOSTKV_CHECKS_CSV:-$carry/checks_gpu_bench.csv}"
  if ! grep -q ",certified," "$checks_csv" 2>/dev/null; then
    echo "gpu_bench.sh main: no checked rows in $checks_csv (GHOSTKV_CHECKS_CSV: the gpu_bench.csv of a quick run)"; exit 1
  fi
  cp "$checks_csv" "$out/gpu_bench.csv"
  echo "gpu_bench.sh main: the checks of $checks_csv ($(($(wc -l < "$checks_csv") - 1)) rows)"
else
# 1. correctness on small shapes (fresh random inputs; real captures), 8- and 4-bit witnesses
# (--poison: a NaN query component, a NaN hot key component and a NaN hot value component must flag
# exactly the heads they reach)
run "$bench" "${common[@]}" --name check-rand8 --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
run "$bench" "${common[@]}" --name check-rand4 --bits 4 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2 --poison
# prep in thread-block clusters sharing the rotation (B·Hkv·4 > SMs and B a multiple of the cluster size): 2 and 4
run "$bench" "${common[@]}" --name check-rand8-prepcl2 --batch 8 --n 2000 --reps 3 --check-batches 8 --fracs 0.05,1 --poison
run "$bench" "${common[@]}" --name check-lowrank-anc-far-prepcl2 --bits lowrank --anchors --far-pages 0.5 --batch 8 --n 2000 \
  --reps 3 --check-batches 8 --fracs 0.05
run env GHOSTKV_PREP_CLUSTER=4 "$bench" "${common[@]}" --name check-g2-4-prepcl4 --hq 16 --hkv 8 --bits 4 --batch 8 --n 3000 \
  --reps 3 --check-batches 8 --fracs 0.2
# balanced splits: KV heads with very different survivor counts (--extra NAME=f0/f1/..: per (sequence, KV head) forced
# fractions), so that attend's blocks are dealt to the KV heads by their counts (decode.h; the bench's "heads" line says
# whether a step took them); G 1, G 3 at d 64, 4 sequences (32 KV heads: 12 splits, merge's one-slice build) and 98 splits
# (merge's 8-slice build, up to 128 splits per KV head)
heads="heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
run "$bench" "${common[@]}" --name check-rand8-heads --batch 2 --n 8256 --reps 3 --check-batches 2 --fracs 0.05 --extra "$heads" --poison
run "$bench" "${common[@]}" --name check-g1-4-heads --hq 8 --hkv 8 --bits 4 --batch 2 --n 8256 --reps 3 --check-batches 2 \
  --fracs 0.05 --extra "$heads"
run "$bench" "${common[@]}" --name check-g3-d64-lowrank-heads --d 64 --hq 24 --hkv 8 --bits lowrank --batch 2 --n 5000 --reps 3 \
  --check-batches 2 --fracs 0.05 --extra "$heads"
run "$bench" "${common[@]}" --name check-mixed-heads --bits mixed --batch 2 --n 8256 --reps 3 --check-batches 2 --fracs 0.05 \
  --extra "heads=0.01/0.5/1/0.2"
run "$bench" "${common[@]}" --name check-rand8-heads-b4 --batch 4 --n 8256 --reps 3 --check-batches 4 --fracs 0.05 --extra "$heads"
run "$bench" "${common[@]}" --name check-splits98-heads --batch 1 --n 65536 --reps 3 --check-batches 1 --splits 98 --fracs 0.05 \
  --extra "$heads"
# 32 sequences of 32K whose KV heads' counts spread (most 0.95, mean 0.45): the split count's eight waves (12 splits on
# an H200; decode.h splits_for_rows), the ready lists
run "$bench" "${common[@]}" --name check-heads-spread-32x32K --batch 32 --n 32768 --distinct 4 --reps 3 --check-batches 1 \
  --fracs 0.2 --extra "spread=0.1/0.9/0.3/0.6/0.2/0.95/0.4/0.15"
# 98 splits (merge's widest build; attend's first tiles past the list's end and past max_seq)
run "$bench" "${common[@]}" --name check-splits98 --batch 1 --n 2000 --reps 3 --check-batches 1 --splits 98 --fracs 0.05,1
run "$bench" "${common[@]}" --name check-mixed --bits mixed --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1
run "$bench" "${common[@]}" --name check-lowrank --bits lowrank --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1
# anchors: synthetic keys with far pages (certified whole-page elimination, every bound checked)
run "$bench" "${common[@]}" --name check-anc8-far --anchors --far-pages 0.5 --batch 3 --n 8256 --reps 3 --check-batches 3 \
  --fracs 0.05,1
run "$bench" "${common[@]}" --name check-anc4-far --bits 4 --anchors --far-pages 0.5 --batch 2 --n 4160 --reps 3 \
  --check-batches 2 --fracs 0.2
# anchors over many short sequences with partial last pages (the anchor warps' page ranges cross sequences)
run "$bench" "${common[@]}" --name check-anc4-far-b5 --bits 4 --anchors --far-pages 0.5 --batch 5 --n 3000 --reps 3 \
  --check-batches 5 --fracs 0.2
run "$bench" "${common[@]}" --name check-anc8-far-b7 --anchors --far-pages 0.5 --batch 7 --n 2000 --reps 3 \
  --check-batches 7 --fracs 0.05
run "$bench" "${common[@]}" --name check-anc-mixed-far-b3 --bits mixed --anchors --far-pages 0.5 --batch 3 --n 5000 \
  --reps 3 --check-batches 3 --fracs 0.2
# the low-rank witness's page anchors (box over the sketches): far pages, and short sequences with partial last pages
run "$bench" "${common[@]}" --name check-lowrank-anc-far --bits lowrank --anchors --far-pages 0.5 --batch 3 --n 8256 \
  --reps 3 --check-batches 3 --fracs 0.05,1
run "$bench" "${common[@]}" --name check-lowrank-anc-far-b7 --bits lowrank --anchors --far-pages 0.5 --batch 7 --n 2000 \
  --reps 3 --check-batches 7 --fracs 0.05
# GQA groups 1 and 2 and d 64 at group 4 (the main shape is G 4, d 128; the captures G 2, d 128 and G 3, d 64)
for shape in "g1:--hq 8 --hkv 8" "g2:--hq 16 --hkv 8" "d64:--d 64"; do
  tag="${shape%%:*}"; opts=(${shape#*:})
  for w in 8 4 mixed lowrank; do
    run "$bench" "${common[@]}" --name "check-$tag-$w" "${opts[@]}" --bits "$w" --batch 3 --n 5000 --reps 3 \
      --check-batches 3 --fracs 0.05,1
  done
  for w in 4 mixed lowrank; do
    run "$bench" "${common[@]}" --name "check-$tag-$w-anc-far" "${opts[@]}" --bits "$w" --anchors --far-pages 0.5 \
      --batch 3 --n 5000 --reps 3 --check-batches 3 --fracs 0.2
  done
done
for cap in "$carry"/captures/*; do
  [ -d "$cap" ] || continue
  layers="$(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap")"
  for l in $layers; do
    for bits in 8 4; do
      run "$bench" "${common[@]}" --mode capture --capture "$cap" --layer "$l" --bits "$bits" --queries 8 --reps 5 \
        --fracs 1 --name "$(basename "$cap")-L$l-b$bits"
    done
    for w in 4 lowrank; do
      run "$bench" "${common[@]}" --mode capture --capture "$cap" --layer "$l" --bits "$w" --anchors --queries 8 --reps 5 \
        --fracs 1 --name "$(basename "$cap")-L$l-$([ "$w" = 4 ] && echo b4 || echo lowrank)-anc"
    done
    for w in mixed lowrank; do
      run "$bench" "${common[@]}" --mode capture --capture "$cap" --layer "$l" --bits "$w" --queries 8 --reps 5 \
        --fracs 1 --name "$(basename "$cap")-L$l-$w"
    done
  done
done
# the ready lists (compact and the survivors' attend take each KV head as soon as its previous stage is
# done; on by default only where B·Hkv ≥ SMs, as at 32 × 32K) forced on at small shapes
export GHOSTKV_COMPACT_READY=1
run "$bench" "${common[@]}" --name check-rand8-ready --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1 --poison
run "$bench" "${common[@]}" --name check-anc4-far-b5-ready --bits 4 --anchors --far-pages 0.5 --batch 5 --n 3000 --reps 3 \
  --check-batches 5 --fracs 0.2
run "$bench" "${common[@]}" --name check-lowrank-ready --bits lowrank --batch 3 --n 8256 --reps 3 --check-batches 3 --fracs 0.05,1
run "$bench" "${common[@]}" --name check-lowrank-anc-far-ready --bits lowrank --anchors --far-pages 0.5 --batch 5 --n 3000 \
  --reps 3 --check-batches 5 --fracs 0.2
cap_rows ready 8 5
unset GHOSTKV_COMPACT_READY
# the cut from the scan block's own histogram (one scan block per KV head, with the anchor stage's counts added
# where there is one: where B·Hkv reaches the scan's slots, as at 32 × 32K): 17 sequences × 8 KV heads (int8, int4, mixed; G 1;
# d 64; low-rank; int4 and low-rank with anchors on far pages), and 64
# capture queries (G 2, d 128; G 3, d 64), with the scan grid capped at one block per SM (GHOSTKV_SCAN_OCC=1),
# so that B·Hkv above half the SM count gives one block per KV head. Every row also runs the step again with
# the global cut: θ, the budget and the survivor counts must be bitwise the same ("local cut:" lines)
export GHOSTKV_SCAN_OCC=1
run "$bench" "${common[@]}" --name check-rand8-cutlocal --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05,1 --poison
run "$bench" "${common[@]}" --name check-rand4-cutlocal --bits 4 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.2
run "$bench" "${common[@]}" --name check-mixed-cutlocal --bits mixed --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
run "$bench" "${common[@]}" --name check-g1-8-cutlocal --hq 8 --hkv 8 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
run "$bench" "${common[@]}" --name check-d64-4-cutlocal --d 64 --bits 4 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
run "$bench" "${common[@]}" --name check-lowrank-cutlocal --bits lowrank --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05,1
run "$bench" "${common[@]}" --name check-anc4-far-cutlocal --bits 4 --anchors --far-pages 0.5 --batch 17 --n 4160 --reps 3 \
  --check-batches 4 --fracs 0.2
run "$bench" "${common[@]}" --name check-lowrank-anc-far-cutlocal --bits lowrank --anchors --far-pages 0.5 --batch 17 --n 4160 \
  --reps 3 --check-batches 4 --fracs 0.05
# the same with anchors at G 1, 2 and 3 (G 3 at d 64): the local cut's anchor counts for every group size
run "$bench" "${common[@]}" --name check-g1-lowrank-anc-far-cutlocal --hq 8 --hkv 8 --bits lowrank --anchors --far-pages 0.5 \
  --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.05
run "$bench" "${common[@]}" --name check-g2-4-anc-far-cutlocal --hq 16 --hkv 8 --bits 4 --anchors --far-pages 0.5 --batch 17 \
  --n 4160 --reps 3 --check-batches 4 --fracs 0.2
run "$bench" "${common[@]}" --name check-g3-d64-mixed-anc-far-cutlocal --d 64 --hq 24 --hkv 8 --bits mixed --anchors \
  --far-pages 0.5 --batch 17 --n 4160 --reps 3 --check-batches 4 --fracs 0.2
cap_rows cutlocal 64 3
unset GHOSTKV_SCAN_OCC
# one split per KV head (--splits 1, as the 32 × 32K steps at 1-5%): attend writes the outputs and the
# certificates itself, no merge kernel (dense too); with the ready lists forced on as well
for shape in "rand8:--batch 3 --n 8256 --fracs 0.05,1 --poison" "anc4:--bits 4 --anchors --far-pages 0.5 --batch 3 --n 5000 --fracs 0.2" \
    "lowrank:--bits lowrank --batch 3 --n 8256 --fracs 0.05,1" \
    "lowrank-anc:--bits lowrank --anchors --far-pages 0.5 --batch 3 --n 5000 --fracs 0.05" "g1-mixed:--hq 8 --hkv 8 --bits mixed --batch 3 --n 5000 --fracs 0.05" \
    "d64-4:--d 64 --bits 4 --batch 3 --n 5000 --fracs 0.05"; do
  tag="${shape%%:*}"; opts=(${shape#*:})
  run "$bench" "${common[@]}" --name "check-$tag-fin" "${opts[@]}" --splits 1 --reps 3 --check-batches 3
done
GHOSTKV_COMPACT_READY=1 run "$bench" "${common[@]}" --name check-rand8-ready-fin --batch 3 --n 8256 --splits 1 --reps 3 \
  --check-batches 3 --fracs 0.05,1 --poison
cap_rows fin 8 3 --splits 1
# the split cut (--cut-split; off by default): several scan blocks per KV head, each cutting its own candidates and
# compacting its own pages (the default walk, GHOSTKV_SPLIT_COMPACT=2) or, with GHOSTKV_SPLIT_COMPACT=0, the compact
# kernel after the whole scan; a partial last page at 3 × 3000; G 2, d 128 and G 3, d 64 on the captures
for sc in 2 0; do
  GHOSTKV_SPLIT_COMPACT=$sc run "$bench" "${common[@]}" --name "check-rand8-split-sc$sc" --batch 2 --n 4160 --reps 3 \
    --check-batches 2 --fracs 0.05,1 --poison --cut-split
done
run "$bench" "${common[@]}" --name check-rand4-split --bits 4 --batch 2 --n 4160 --reps 3 --check-batches 2 --fracs 0.2 --cut-split
run "$bench" "${common[@]}" --name check-mixed-split-b3 --bits mixed --batch 3 --n 3000 --reps 3 --check-batches 3 --fracs 0.05,1 \
  --cut-split
cap_rows split 8 3 --cut-split
if [ "$fail" != 0 ] || [ "$mode" = quick ]; then echo "gpu_bench.sh: stopping after the checks (fail=$fail)"; exit "$fail"; fi
fi

# 2. real fractions: the certified survivor fraction of each capture (8-bit witness), as forced fractions: the
# capture's mean (real:) and each of its (query, KV head) pairs' own (real-heads:, pair i of the main shape taking the
# capture's pair i mod its count)
extra="$(python3 - "$out/gpu_bench.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["label"] == "certified" and r["case"].endswith("-b8")]
print(",".join(["real:%s=%s" % (r["case"][:-3], r["surv_frac"]) for r in rows] +
               ["real-heads:%s=%s" % (r["case"][:-3], r["head_fracs"]) for r in rows if r.get("head_fracs")]))
PY
)"
echo "real fractions: $extra"

# 3. main shapes (Hq 32, Hkv 8, d 128, bf16): certified on random data + forced + real fractions
run "$bench" "${common[@]}" --name 1x128K-b8 --batch 1 --n 131072 --reps 30 --check-batches 1 \
  --fracs 0.01,0.05,0.2,1 ${extra:+--extra "$extra"}
run "$bench" "${common[@]}" --name 1x128K-b4 --bits 4 --batch 1 --n 131072 --reps 30 --check-batches 1 \
  --fracs 0.01,0.05,0.2,1 ${extra:+--extra "$extra"}
run "$bench" "${common[@]}" --name 32x32K-b8 --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 2 \
  --fracs 0.01,0.05,0.2,1 ${extra:+--extra "$extra"}
run "$bench" "${common[@]}" --name 32x32K-b4 --bits 4 --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 2 \
  --fracs 0.01,0.05,0.2,1

# 3a. the other witnesses: mixed widths (8x32 + 4x96, 80 B/token) and low-rank r16 (36 B/token)
for w in mixed lowrank; do
  run "$bench" "${common[@]}" --name "1x128K-$w" --bits "$w" --batch 1 --n 131072 --reps 30 --check-batches 1 \
    --fracs 0.01,0.05,0.2,1
  run "$bench" "${common[@]}" --name "32x32K-$w" --bits "$w" --batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 2 \
    --fracs 0.01,0.05,0.2,1
done

# 3a'. the split cut (--cut-split, DecodeParams::cut_split; off by default) for the quant witnesses at 1 x 128K, where
# the scan has several blocks per KV head: forced fractions and certified on random data (no real: rows; the split
# cut's fractions on the captures are in docs/gpu.md, from same-call records)
for w in 8 4 mixed; do
  case "$w" in 8 | 4) nm="1x128K-b$w-split" ;; *) nm="1x128K-$w-split" ;; esac
  run "$bench" "${common[@]}" --name "$nm" --bits "$w" --batch 1 --n 131072 --reps 30 --check-batches 1 \
    --fracs 0.01,0.05,0.2,1 --cut-split
done

# 3b. anchors (int4 witness): forced page fractions, and certified on synthetic far pages
run "$bench" "${common[@]}" --name 1x128K-b4-anc --bits 4 --anchors --batch 1 --n 131072 --reps 30 --check-batches 1 \
  --fracs 0.01,0.05,0.2
run "$bench" "${common[@]}" --name 1x128K-b4-anc-far --bits 4 --anchors --far-pages 0.8 --batch 1 --n 131072 --reps 30 \
  --check-batches 1 --fracs 0.05
run "$bench" "${common[@]}" --name 32x32K-b4-anc --bits 4 --anchors --batch 32 --n 32768 --distinct 4 --reps 20 \
  --check-batches 2 --fracs 0.01,0.05,0.2
# 3c. anchors for the low-rank witness (36 B/token + an 80-byte page anchor): the moonshot's configuration
run "$bench" "${common[@]}" --name 1x128K-lowrank-anc --bits lowrank --anchors --batch 1 --n 131072 --reps 30 \
  --check-batches 1 --fracs 0.01,0.05,0.2
run "$bench" "${common[@]}" --name 1x128K-lowrank-anc-far --bits lowrank --anchors --far-pages 0.8 --batch 1 --n 131072 \
  --reps 30 --check-batches 1 --fracs 0.05
run "$bench" "${common[@]}" --name 32x32K-lowrank-anc --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --reps 20 \
  --check-batches 2 --fracs 0.01,0.05,0.2

# 4. external baseline
run python3 "$root/scripts/gpu_torch_sdpa.py" --cases 1x131072,32x32768 --reps 50 --csv "$out/gpu_torch.csv" \
  --device-name "$device" --commit "$commit"

# 5. ghost tier over PCIe (K, V in host pinned memory, survivors read zero-copy), in its own process
run "$bench" "${common[@]}" --name 1x128K-b8 --batch 1 --n 131072 --reps 20 --check-batches 1 \
  --fracs 0.01,0.05,0.2,1 --tier-only --tier-csv "$out/gpu_tier.csv"

# 6. DRAM bytes per kernel from Nsight Compute (one ghost step at 5% forced survivors + one dense step)
ncu_bin="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)"
if [ -n "$ncu_bin" ]; then
  run "$ncu_bin" --clock-control none --csv --page raw \
    --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \
    "$bench" --name ncu --batch 1 --n 131072 --profile 0.05 >"$out/ncu.csv"
  tail -n +1 "$out/ncu.csv" | cut -c1-300 | tail -12
  run "$ncu_bin" --clock-control none --csv --page raw \
    --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \
    "$bench" --name ncu --bits 4 --anchors --batch 1 --n 131072 --profile 0.05 >"$out/ncu_anc.csv"
  # where the scan's time goes (stall reasons, memory pipes, occupancy)
  "$ncu_bin" --clock-control none -k regex:scan_kernel --section WarpStateStats --section MemoryWorkloadAnalysis \
    --section Occupancy "$bench" --name ncu --batch 1 --n 131072 --profile 0.05 >"$out/scan_sections.txt" 2>&1 || true
else
  echo "ncu not found: no DRAM counters"
fi
echo "gpu_bench.sh: done (fail=$fail)"
exit "$fail"
