#!/usr/bin/env python3
"""The table of docs/gpu.md's "Real keys" paragraph, from a record of scripts/gpu_capture_grow.py runs.

  scripts/gpu_capture_table.py RECORD

RECORD is the output of one or more gpu_capture_grow.py runs (each announced by its command line, `+ python3
scripts/gpu_capture_grow.py CAPTURE [--built F] [--bits B] ...`, then a summary line per layer: `layer L: basis fitted
on F of N tokens; attended X% grown against Y% built at once (...)`). One column per run (its witness and the tokens its
basis was fitted on: "the first quarter" where F = N / 4), one row per capture and layer: "X / Y %" (grown / built at
once). Exits 1, naming the record, when it holds no run, or a run no summary line.
"""
import re
import sys

RUN = re.compile(r"^\+ \S*python3? \S*gpu_capture_grow\.py (\S+)(.*?) \d\d:\d\d:\d\d$")
LAYER = re.compile(r"^layer (\d+): basis fitted on (\d+) of (\d+) tokens; attended ([\d.]+)% grown against ([\d.]+)% "
                   r"built at once \(mean of \d+ queries, (?:(\w+)-bit|(low-rank r16))(, page anchors)?")


def capture_name(path):
    base = path.rstrip("/").split("/")[-1]
    return "ref23m" if base.startswith("ghostkv-ref-23m") else "SmolLM2" if base.startswith("SmolLM2") else base


def table(text, where="record"):
    runs = []  # [column title, {(capture, layer): cell}]
    for line in text.splitlines():
        m = RUN.match(line)
        if m:
            runs.append([None, {}, capture_name(m.group(1)), m.group(2)])
            continue
        m = LAYER.match(line)
        if m and runs:
            layer, f, n, grown, fresh, bits, lowrank, anc = m.groups()
            f, n = int(f), int(n)
            basis = "the first quarter" if f == n // 4 else f"the first {f}"
            witness = lowrank if lowrank else f"int{bits}" if bits in ("8", "4") else bits
            title = witness + (" with page anchors" if anc else "") + f", basis on {basis}"
            run = runs[-1]
            if run[0] not in (None, title):
                raise ValueError(f"{where}: one run with two kinds of layer lines ({run[0]}, {title})")
            run[0] = title
            run[1][(run[2], int(layer))] = f"{grown} / {fresh} %"
    if not runs:
        raise ValueError(f"{where}: no gpu_capture_grow.py run in it")
    for r in runs:
        if not r[1]:
            raise ValueError(f"{where}: the run on {r[2]}{r[3]} has no layer summary")
    # columns: runs with the same title (one per capture) are one column
    titles = []
    cells = {}
    for title, rows, _, _ in runs:
        if title not in titles:
            titles.append(title)
        for key, cell in rows.items():
            cells[(key, title)] = cell
    keys = []
    for _, rows, _, _ in runs:
        for key in rows:
            if key not in keys:
                keys.append(key)
    out = ["| capture, layer | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    for cap, layer in keys:
        out.append(f"| {cap} L{layer} | " + " | ".join(cells.get(((cap, layer), t), "") for t in titles) + " |")
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        print(table(open(sys.argv[1]).read(), sys.argv[1]))
    except (OSError, ValueError) as e:
        print(f"gpu_capture_table: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
