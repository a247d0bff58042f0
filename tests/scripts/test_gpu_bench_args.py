"""ghostkv_gpu_bench's option checks, which come before any CUDA call: each bad option exits 2 with a message naming
the option and the value (the adaptive options here; the run modes are test_gpu_bench_modes.py's).

  test_gpu_bench_args.py PATH/ghostkv_gpu_bench
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402


def main():
    bench = sys.argv[1]
    c = Checks()
    cases = [
        (["--adaptive-phases", "0,1", "--adaptive-steps", "100"], "--adaptive-phases takes forced fractions in (0, 1], got 0"),
        (["--adaptive-phases", "0.05,1.5", "--adaptive-steps", "100"], "got 1.5"),
        (["--adaptive-phases", "0.05,1"], "--adaptive-phases needs --adaptive-steps of at least 64 (steps per phase), got 0"),
        (["--adaptive-phases", "0.05,1", "--adaptive-steps", "32"], "at least 64 (steps per phase), got 32"),
        (["--adaptive-steps", "5"], "--adaptive-steps takes 8 to 100000, got 5"),
        (["--adaptive-every", "0"], "--adaptive-every takes 1 to 1000000, got 0"),
        (["--adaptive-lag", "0"], "--adaptive-lag takes 1 to 1000000, got 0"),
        (["--adaptive-probe-budget", "-0.01"], "--adaptive-probe-budget takes 0 to 1, got -0.01"),
        (["--adaptive-probe-budget", "nan"], "--adaptive-probe-budget takes 0 to 1, got nan"),
    ]
    for args, text in cases:
        r = subprocess.run([bench, "--dry", "--batch", "1", "--n", "1024"] + args, capture_output=True, text=True)
        c(r.returncode == 2 and text in r.stderr, f"{' '.join(args)}: rc {r.returncode}, stderr {r.stderr.strip()!r}")
    # a good set of them passes the checks (--dry: the host data only, no CUDA call)
    r = subprocess.run([bench, "--dry", "--batch", "1", "--n", "1024", "--adaptive-steps", "64", "--adaptive-phases", "0.05,1",
                        "--adaptive-no-reset", "--adaptive-probe-budget", "0", "--adaptive-phases-csv", os.devnull], capture_output=True, text=True)
    c(r.returncode == 0, f"good options with --dry: rc {r.returncode}, stderr {r.stderr.strip()!r}")
    return c.done("test_gpu_bench_args")


if __name__ == "__main__":
    sys.exit(main())
