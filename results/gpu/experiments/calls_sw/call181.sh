#!/usr/bin/env bash
# The split cut's compacting scan with M_E from the block's histogram (arm hme, GHOSTKV_SPLIT_COMPACT=3: scan_kernel's SC
# 5 / 6, no exponential per eliminated token and head) against the default walk (arm sc2, GHOSTKV_SPLIT_COMPACT=2). One
# binary (commit in COMMIT). First the hme arm's checks (forced and certified small rows, G 1-4, d 64, poisoned outputs,
# every row against float64), then the real captures (int8 and int4, certified and forced 100%) with both arms (the
# survivors must be the same, the mass bounds may differ), then same-call runs at 1 x 128K for int8 (1 / 5 / 20% forced
# and certified), int4 and mixed (5% forced and certified), arms in the order sc2 hme hme sc2; then, while time is left,
# the example under racecheck with 40 steps (call178's failed with rc 9) under /usr/bin/time. One H200; everything
# under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
arm_env() { case "$1" in sc2) export GHOSTKV_SPLIT_COMPACT=2 ;; hme) export GHOSTKV_SPLIT_COMPACT=3 ;; esac; }
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
e=.gpu_carry/ghostkv_gpu_example
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_COMPACT=3
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror" | head -8; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8-split-hme --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split-hme --bits 4 --batch 2 --n 4160 --fracs 0.2,0.01 --check-batches 2 --cut-split
  chk mixed-split-hme-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05,1 --check-batches 3 --cut-split
  chk g3-d64-4-split-hme --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk g2-8-split-hme --hq 16 --hkv 8 --batch 2 --n 5000 --fracs 0.05,1 --check-batches 2 --cut-split
  chk g1-mixed-split-hme --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 --cut-split
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      for w in 8 4; do
        for a in sc2 hme; do
          [ $(( $(date +%s) - t0 )) -lt 200 ] || { echo "skipped (time): $cap $l $w $a"; continue; }
          arm_env $a
          echo "+ $(basename "$cap") L$l b$w $a $(date +%T)"
          timeout -k 5 60 $b --device "$dev" --commit "$cm-$a" --csv "$O/r/captures.csv" --mode capture --capture "$cap" --layer "$l" \
            --bits $w --queries 8 --reps 5 --fracs 1 --name "$(basename "$cap")-L$l-b$w-$a" --cut-split 2>&1 | grep -E "^certified|^forced|checks|FAIL|rror"
          echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
        done
      done
    done
  done
) > "$O/r/captures.txt" 2>&1
grep -E "^\+|^certified|FAIL|rc=[1-9]|skipped" "$O/r/captures.txt" | cut -c1-220
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 470 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror" | head -12; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@" --cut-split; }
  for a in sc2 hme hme sc2; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.05,0.2; done
  for w in 4 mixed; do
    for a in sc2 hme hme sc2; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w --fracs 0.05; done
  done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200 | head -80
(
  export CUDA_VISIBLE_DEVICES=0
  if [ $(( $(date +%s) - t0 )) -lt 480 ]; then
    echo "+ racecheck 4096 0.9 40 $(date +%T)"
    tm=""; [ -x /usr/bin/time ] && tm="/usr/bin/time -v"
    timeout -k 5 100 $tm compute-sanitizer --tool racecheck $e 4096 0.9 40 2>&1 | grep -vE "^ +[0-9]+ +[0-9]+ " | tail -40
    echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
  else
    echo "skipped (time): racecheck"
  fi
) > "$O/r/racecheck.txt" 2>&1
tail -25 "$O/r/racecheck.txt" | cut -c1-200
cuobjdump --dump-resource-usage $b 2>/dev/null | grep -A1 -E "scan_kernelILi[1-4]ELi(64|128)E.*ELb0ELi2ELi1ELi[3-6]EEv" | \
  grep -oE "scan_kernelI[^ ]*|REG:[0-9]+|STACK:[0-9]+" | paste - - - > "$O/r/res_usage.txt"
echo "res_usage: $(wc -l < "$O/r/res_usage.txt") builds; stack > 0: $(grep -vc 'STACK:0' "$O/r/res_usage.txt")"
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
