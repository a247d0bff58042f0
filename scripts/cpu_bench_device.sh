#!/usr/bin/env bash
# The issue-7 CPU benchmark matrix on a measurement host, pinned to 2 cores:
#   scripts/cpu_bench_device.sh BENCH_BINARY OUT_DIR [extra ghostkv_bench args, e.g. --sizes 4096]
# n_kv 4K / 32K / 128K; witnesses low-rank r16, int8, int4-g64, mixed (integer scan where the spec allows);
# survivor fractions forced to 1/5/20/100% plus the fractions certified on the real captures
# (results/bench_cpu/certified.csv: ghostkv-ref-23m at 4096; certified_smollm2.csv: SmolLM2-135M at 8192;
# δ = 1e-3 and 1e-2, no anchors), each with and without page anchors; DRAM-resident sizes (K, V of all
# heads > L3/2) are timed with the caches flushed before every repetition, the others warm, and labelled.
# Needs only the binary (libgomp.so.1 beside it or in BIN_DIR/lib when the host lacks one), this repo
# and OUT_DIR. Writes OUT_DIR/bench.csv, bench.md, bench.log and host.txt. Extra arguments go to the
# benchmark (they override the defaults above: --sizes, --witnesses, --fracs, --quant-scan).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 BENCH_BINARY OUT_DIR [ghostkv_bench args...]" >&2
  exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export LD_LIBRARY_PATH="$(dirname "$bin"):$(dirname "$bin")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_NUM_THREADS=2 OPENBLAS_CORETYPE=Haswell OMP_PROC_BIND=true OMP_PLACES=cores

# certified fractions (fraction of visible keys attended, anchors none) -> WITNESS:FRACTION:LABEL,...
fracs=""
for spec in "certified.csv:ref23m-4k" "certified_smollm2.csv:smollm2-8k"; do
  f="$root/results/bench_cpu/${spec%%:*}"
  label="${spec#*:}"
  [ -f "$f" ] || continue
  fracs+="$(awk -F, -v l="$label" '!/^#/ && $1 != "source" && $3 == "none" {
      printf "%s:%s:%s-d%s,", $2, $5, l, $4 }' "$f")"
done
fracs="${fracs%,}"

{
  echo "host: $(hostname) $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "cpus: $(nproc); pinned: taskset -c 0,1; L3: $(cat /sys/devices/system/cpu/cpu0/cache/index3/size 2>/dev/null || echo ?)"
  echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx_vnni|avx512f|avx512_vnni)$' | tr '\n' ' ')"
  echo "binary: $bin"
  echo "certified fractions: $fracs"
} | tee "$out/host.txt"

start=$(date +%s)
taskset -c 0,1 "$bin" --out "$out" --certified-fracs "$fracs" "$@" 2>&1 | tee "$out/bench.log"
rc=${PIPESTATUS[0]}
echo "wall: $(( $(date +%s) - start )) s, exit $rc" | tee -a "$out/host.txt"
exit "$rc"
