"""The same product as bench/cpu/LinearMicro.java in PyTorch: linear_micro.py THREADS ROWS N K"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1])); rows, n, k = map(int, sys.argv[2:5])
with torch.no_grad():
    w = torch.randn(n, k); x = torch.randn(rows, k); t = []
    for i in range(35):
        t0 = time.perf_counter(); y = torch.nn.functional.linear(x, w); del y
        if i >= 5: t.append((time.perf_counter() - t0) * 1e3)
t.sort(); print(f"torch rows {rows} [{n} x {k}]: median {t[15]:.3f} ms")
