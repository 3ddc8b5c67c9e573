#!/usr/bin/env python3
"""Merges the TSV rows of emd_gpu_bench (native) and torch_anchor.py (torch) into the one table of issue 5.

    python3 bench/gpu/make_table.py RESULTS.tsv > table.md

Per shape: every implementation's median ms, TFLOP/s (4 N V D / t), the ratio to the cuBLAS two-GEMM floor measured
in the same run (torch's floor when present, else the native one) and to torch.compile, extra device memory, errors
against float64 (loss: max relative over the sampled rows; gradient: max over rows of the relative norm error), and
for the skipping mode the reported bounds and the true errors relative to the batch loss (sums over the sampled rows)
and the number of rows whose true error exceeds their bound (must be 0).
"""
import math
import sys

COLS = ["source", "card", "N", "V", "D", "impl", "threshold", "ms", "min_ms", "tflops", "extra_mib", "loss_err",
        "grad_err", "bound_rel", "true_rel", "mean_mass", "beyond"]


def num(x):
    try:
        return float(x)
    except ValueError:
        return math.nan


def fmt(x, spec):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def main(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(COLS):
                continue
            r = dict(zip(COLS, parts))
            for k in COLS[2:5]:
                r[k] = int(r[k])
            for k in COLS[6:-1]:
                r[k] = num(r[k])
            r["beyond"] = int(r["beyond"])
            rows.append(r)
    if not rows:
        print("make_table.py: no rows in " + path, file=sys.stderr)
        return 1
    cards = sorted({r["card"] for r in rows})
    print(f"Card: {', '.join(cards)}. Times: median of the timed runs (CUDA events, L2 flushed, logits restored before "
          "every run); bf16 logits and embedding, fp32 accumulation, gradient in place for the fused kernels.\n")
    shapes = []
    for r in rows:
        s = (r["N"], r["V"], r["D"])
        if s not in shapes:
            shapes.append(s)
    for s in shapes:
        rs = [r for r in rows if (r["N"], r["V"], r["D"]) == s]
        floor = next((r["ms"] for r in rs if r["source"] == "torch" and "floor" in r["impl"]), None)
        floor = floor or next((r["ms"] for r in rs if "floor" in r["impl"]), None)
        comp = next((r["ms"] for r in rs if r["impl"] == "torch.compile"), None)
        n, v, d = s
        print(f"### N={n} V={v} D={d}  (gradient {n * v * 2 / 2**20:.0f} MiB bf16; N*D*4 = {n * d * 4 / 2**20:.0f} MiB)\n")
        print("| implementation | threshold | ms | TFLOP/s | x floor | x torch.compile | extra MiB | loss err | grad err "
              "| sum bound / sum L | sum err / sum L | rows beyond bound | mean skipped mass |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rs:
            name = r["impl"] + (" (native)" if r["source"] == "native" and "floor" in r["impl"] else "")
            name = name + (" (torch)" if r["source"] == "torch" and "floor" in r["impl"] else "")
            print("| " + " | ".join([
                name,
                fmt(r["threshold"], "g") if r["threshold"] > 0 else "-",
                fmt(r["ms"], ".3f"),
                fmt(r["tflops"], ".0f"),
                fmt(r["ms"] / floor if floor else math.nan, ".2f"),
                fmt(r["ms"] / comp if comp else math.nan, ".2f"),
                fmt(r["extra_mib"], ".0f"),
                fmt(r["loss_err"], ".1e"),
                fmt(r["grad_err"], ".1e"),
                fmt(r["bound_rel"], ".1e"),
                fmt(r["true_rel"], ".1e"),
                str(r["beyond"]) if r["beyond"] >= 0 else "-",
                fmt(r["mean_mass"], ".1e"),
            ]) + " |")
        print()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: make_table.py RESULTS.tsv", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
