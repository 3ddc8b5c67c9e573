#!/usr/bin/env python3
"""PyTorch anchors of the GPU benchmark (issue 5), timed the same way as emd_gpu_bench.cu on the same card:
PyTorch eager and torch.compile forward + backward of the EMD bound, and the cuBLAS two-GEMM floor (P @ E and
R @ E^T in bf16), with bf16 logits and embeddings and an fp32 softmax, CUDA events, warm-up, the median of many runs,
logits larger than L2 and L2 flushed before every run; extra memory = peak allocated minus allocated before
(the gradient included); error against float64 autograd on sampled rows.

    python3 bench/gpu/torch_anchor.py [--shapes "N,V,D;..."] [--compile-shapes "N,V,D;..."] [--iters K]
                                      [--warmup W] [--out FILE.tsv]

Appends TSV rows in emd_gpu_bench's columns to --out (make_table.py merges both).
"""
import argparse
import math
import sys

import torch


def emd_rows(logits, emb, targets):
    """The naive EMD bound per row, as the performance notes' anchors compute it (fp32 softmax, bf16 matmul)."""
    p = torch.softmax(logits.float(), dim=-1)
    u = p.to(emb.dtype) @ emb
    r = u.float() - emb[targets].float()
    return (r * r).sum(-1)


def emd_sum(logits, emb, targets):
    return emd_rows(logits, emb, targets).sum()


class Timer:
    def __init__(self, l2_bytes):
        self.flush = torch.empty(max(2 * l2_bytes, 1 << 20), dtype=torch.uint8, device="cuda")

    def run(self, fn, iters, warmup, prepare=None):
        times, extra = [], 0.0
        for it in range(warmup + iters):
            if prepare is not None:
                prepare()
            self.flush.zero_()
            torch.cuda.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            if it >= warmup:
                times.append(start.elapsed_time(end))
                extra = max(extra, (torch.cuda.max_memory_allocated() - before) / 2**20)
        times.sort()
        return times[len(times) // 2], times[0], extra


def make_inputs(n, v, d, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    logits = (3.0 * torch.randn(n, v, device="cuda", generator=g)).to(torch.bfloat16)
    emb = torch.randn(v, d, device="cuda", generator=g)
    emb = (emb / emb.norm(dim=1, keepdim=True)).to(torch.bfloat16)
    targets = torch.randint(0, v, (n,), device="cuda", generator=g)
    return logits, emb, targets


def reference(logits, emb, targets, rows):
    """float64 loss and gradient of the sampled rows (autograd of the same math)."""
    z = logits[rows].double().requires_grad_(True)
    e = emb.double()
    p = torch.softmax(z, dim=-1)
    r = p @ e - e[targets[rows]]
    loss = (r * r).sum(-1)
    loss.sum().backward()
    return loss.detach(), z.grad.detach()


def errors(loss, grad, ref_loss, ref_grad, rows):
    le = ((loss[rows].double() - ref_loss).abs() / ref_loss.abs().clamp_min(1e-30)).max().item()
    g = grad[rows].double()
    ge = ((g - ref_grad).norm(dim=1) / ref_grad.norm(dim=1).clamp_min(1e-300)).max().item()
    return le, ge


def parse_shapes(text):
    out = []
    for part in text.split(";"):
        if part.strip():
            n, v, d = (int(x) for x in part.split(","))
            out.append((n, v, d))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="8192,32000,4096;8192,128256,4096;4096,32000,5120;2048,32000,2048;1024,32000,1024")
    ap.add_argument("--compile-shapes", default="8192,32000,4096;8192,128256,4096",
                    help="torch.compile only here (each shape compiles anew, ~30 s)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_anchor.py: no CUDA device", file=sys.stderr)
        return 1
    props = torch.cuda.get_device_properties(0)
    card = props.name
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    print(f"torch_anchor.py: {card}, torch {torch.__version__}, cuBLAS via torch, L2 {l2 >> 20} MiB")
    timer = Timer(l2)
    out = open(a.out, "a") if a.out else None
    compile_shapes = set(parse_shapes(a.compile_shapes))
    compiled = torch.compile(emd_sum, dynamic=False)

    def report(shape, impl, med, mn, extra, le=float("nan"), ge=float("nan")):
        n, v, d = shape
        tflops = 4.0 * n * v * d / (med * 1e-3) / 1e12
        print(f"  {impl:24s} {med:9.3f} ms (min {mn:9.3f}) {tflops:7.1f} TFLOP/s  extra {extra:9.1f} MiB  "
              f"loss err {le:.2e}  grad err {ge:.2e}", flush=True)
        if out:
            out.write(f"torch\t{card}\t{n}\t{v}\t{d}\t{impl}\t0\t{med:.4f}\t{mn:.4f}\t{tflops:.1f}\t{extra:.1f}\t"
                      f"{le:.3e}\t{ge:.3e}\tnan\tnan\tnan\t-1\n")
            out.flush()

    for shape in parse_shapes(a.shapes):
        n, v, d = shape
        print(f"== N={n} V={v} D={d}", flush=True)
        torch.manual_seed(0)
        logits, emb, targets = make_inputs(n, v, d, seed=1)
        rows = torch.linspace(0, n - 1, min(16, n), device="cuda").long()
        ref_loss, ref_grad = reference(logits, emb, targets, rows)
        leaf = logits.clone().requires_grad_(True)

        def prepare():
            leaf.grad = None

        for impl, fn in (("PyTorch eager", emd_sum), ("torch.compile", compiled)):
            if impl == "torch.compile" and shape not in compile_shapes:
                continue

            def step(fn=fn):
                fn(leaf, emb, targets).backward()

            med, mn, extra = timer.run(step, a.iters, a.warmup, prepare)
            with torch.no_grad():
                loss = emd_rows(leaf, emb, targets)  # the loss rows (the compiled graph returns only their sum)
            le, ge = errors(loss, leaf.grad, ref_loss, ref_grad, rows)
            report(shape, impl, med, mn, extra, le, ge)

        # The floor: the two GEMMs of the math, bf16 in and out, nothing else.
        with torch.no_grad():
            p = torch.softmax(logits.float(), dim=-1).to(torch.bfloat16)
            r = (0.02 * torch.randn(n, d, device="cuda")).to(torch.bfloat16)

            def floor():
                torch.matmul(p, emb)
                torch.matmul(r, emb.t())

            med, mn, extra = timer.run(floor, a.iters, a.warmup)
            report(shape, "cuBLAS two-GEMM floor", med, mn, extra)
            del p, r
        del logits, emb, targets, leaf, ref_grad
        torch.cuda.empty_cache()
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
