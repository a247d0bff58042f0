# Shared set-up of the device scripts (sourced): root, the carried folder .gpu_carry (scripts/gpu_carry.sh),
# the output folder $out ($OUT, default results/gpu/run) with this script's output also appended to
# $out/$1, and the carried shared libraries on LD_LIBRARY_PATH.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
carry="$root/.gpu_carry"
out="${OUT:-$root/results/gpu/run}"
mkdir -p "$out"
exec > >(tee -a "$out/$1") 2>&1
if [ -f "$carry/lib.tar.xz" ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf "$carry/lib.tar.xz"; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:$carry/lib:${LD_LIBRARY_PATH:-}"
