"""Driver of bench/run-cpu-vs-pytorch.sh: each case runs tasft (CpuVsPytorchBenchmark) and the PyTorch anchor as
separate processes in the order A B B A, takes the median of every timed repetition of each side and the larger
peak resident size, and prints a Markdown table with the ratios (tasft tokens/s over PyTorch's; memory tasft over
PyTorch), then the training steps' parts. Every row sets OMP_NUM_THREADS and LibTorch's threads to its "threads",
OPENBLAS_NUM_THREADS to its "BLAS threads" (one per core, as ./tasft does, unless the row says 1) and
OMP_WAIT_POLICY=PASSIVE (as ./tasft does). Usage: side_by_side.py SMALL_DIR LLAMA160_DIR"""
import os, statistics, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JAVA = ["java", "-Xmx2g", "-Dorg.bytedeco.javacpp.maxBytes=0", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0",
        "-cp", f"{root}/target/test-classes:{root}/target/classes:{root}/target/lib/*",
        "org.tasft.train.CpuVsPytorchBenchmark"]
PY = ["/usr/bin/python3", f"{root}/bench/cpu/anchor.py"]


def run(cmd, env):
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    lines = out.stdout.splitlines()
    first = lambda key: next((l.split(" ", 1)[1] for l in lines if l.startswith(key + " ")), None)
    return {"reps": [float(l.split()[1]) for l in lines if l.startswith("rep ")],
            "rss": int(first("peak_rss_kb")), "check": first("tokens") or first("loss"),
            # the step's parts (zero, forward+backward, clip, adamw) and the forward alone, for the breakdown
            "phases": [dict(zip(l.split()[1::2], map(float, l.split()[2::2]))) for l in lines
                       if l.startswith("phases ")],
            "forward": [float(l.split()[1]) for l in lines if l.startswith("forward ")]}


BREAKDOWN = []


def same(a, b):
    """Greedy tokens equal, or first losses equal to 1e-4 (relative); otherwise both values."""
    if a is None or b is None:
        return "-"
    if " " in a or " " in b:
        return "yes" if a == b else "NO"
    x, y = float(a), float(b)
    return "yes" if abs(x - y) <= 1e-4 * max(1.0, abs(y)) else f"{x:.4f} vs {y:.4f}"


def case(label, args, tokens, threads, blas_threads):
    """Processes A B B A (A = tasft, B = PyTorch) with LibTorch's / OpenMP's and OpenBLAS's threads set. BENCH_ONLY=text
    runs only the cases whose label contains it (e.g. BENCH_ONLY=greedy)."""
    if os.environ.get("BENCH_ONLY", "") not in label:
        return
    env = {"OPENBLAS_NUM_THREADS": str(blas_threads), "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    load = os.getloadavg()[0]  # other work on the machine (the rows' ratios are interleaved against it)
    sides = {"A": [], "B": []}
    for side, cmd in (("A", JAVA), ("B", PY), ("B", PY), ("A", JAVA)):
        sides[side].append(run(cmd + args, env))
    a, b = sides["A"], sides["B"]
    med = lambda runs, key: statistics.median(x for r in runs for x in r[key])
    ta, tb = tokens / med(a, "reps"), tokens / med(b, "reps")
    ra, rb = max(r["rss"] for r in a), max(r["rss"] for r in b)
    print(f"| {label} | {threads} | {blas_threads} | {ta:,.0f} | {tb:,.0f} | {ta / tb:.2f} | {ra / 1e6:.2f} | "
          f"{rb / 1e6:.2f} | {ra / rb:.2f} | {same(a[0]['check'], b[0]['check'])} | {load:.1f} |", flush=True)
    if a[0]["phases"]:
        BREAKDOWN.append((label, threads, blas_threads, a, b))


def phase_ms(runs, name):
    return 1e3 * statistics.median(p[name] for r in runs for p in r["phases"])


def breakdown():
    """Medians in ms of the step's parts; the forward alone is timed after the steps (same batch, no loss)."""
    print("\n| case | threads | BLAS | side | step | zero | forward+backward | forward alone | rest (loss + backward) "
          "| clip | adamw |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, threads, blas, a, b in BREAKDOWN:
        for side, runs in (("tasft", a), ("PyTorch", b)):
            fb = phase_ms(runs, "forward+backward")
            fw = 1e3 * statistics.median(x for r in runs for x in r["forward"])
            step = 1e3 * statistics.median(x for r in runs for x in r["reps"])
            print(f"| {label} | {threads} | {blas} | {side} | {step:.1f} | {phase_ms(runs, 'zero'):.1f} | {fb:.1f} | "
                  f"{fw:.1f} | {fb - fw:.1f} | {phase_ms(runs, 'clip'):.1f} | {phase_ms(runs, 'adamw'):.1f} |")


def main():
    small, big = sys.argv[1], sys.argv[2]
    cores = os.cpu_count()  # ./tasft's OPENBLAS_NUM_THREADS: one per core
    print("| case | threads | BLAS threads | tasft tokens/s | PyTorch tokens/s | speed ratio | tasft peak RSS GB "
          "| PyTorch peak RSS GB | memory ratio | same first loss / greedy tokens | load before |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, name, b, reps, warm in ((small, "default model", 16, "6", "2"), (big, "160M Llama", 2, "2", "1")):
        train = lambda method, dtype, t: ["train", model, str(t), reps, warm, str(b), "128", method, dtype]
        case(f"{name}, train SFT {b}x128, float32", train("sft", "float32", 1), b * 128, 1, 1)
        for method in ("sft", "emd"):
            for dtype in ("float32", "bfloat16"):
                case(f"{name}, train {method} {b}x128, {dtype}", train(method, dtype, 2), b * 128, 2, cores)
    for dtype in ("float32", "bfloat16"):
        for batch in (1, 8):
            case(f"160M Llama, greedy 32 tokens, batch {batch}, {dtype}",
                 ["generate", big, "2", "2", "1", str(batch), "32", dtype], batch * 32, 2, cores)
    breakdown()


main()
