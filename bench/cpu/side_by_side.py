"""Driver of bench/run-cpu-vs-pytorch.sh: each case runs tasft (CpuVsPytorchBenchmark) and the PyTorch anchor as
separate processes in the order A B B A, takes the median of every timed repetition of each side and the larger
peak resident size, and prints a Markdown table with the ratios (tasft tokens/s over PyTorch's; memory tasft over
PyTorch). Usage: side_by_side.py SMALL_DIR LLAMA160_DIR [quick]"""
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
    reps = [float(l.split()[1]) for l in out.stdout.splitlines() if l.startswith("rep ")]
    rss = [int(l.split()[1]) for l in out.stdout.splitlines() if l.startswith("peak_rss_kb")][0]
    toks = [l for l in out.stdout.splitlines() if l.startswith("tokens")]
    return reps, rss, toks[0] if toks else None


def case(label, args, tokens, blas_threads=1, anchor=True):
    env = {"OPENBLAS_NUM_THREADS": str(blas_threads), "OMP_WAIT_POLICY": "PASSIVE"}
    a, b = {"reps": [], "rss": 0, "tok": None}, {"reps": [], "rss": 0, "tok": None}
    order = [("A", JAVA), ("B", PY), ("B", PY), ("A", JAVA)] if anchor else [("A", JAVA), ("A", JAVA)]
    for side, cmd in order:
        reps, rss, tok = run(cmd + args, env)
        s = a if side == "A" else b
        s["reps"] += reps
        s["rss"] = max(s["rss"], rss)
        s["tok"] = tok
    ta = tokens / statistics.median(a["reps"])
    if not anchor:
        print(f"| {label} | {ta:,.0f} | - | - | {a['rss'] / 1e6:.2f} | - | - | - |", flush=True)
        return
    tb = tokens / statistics.median(b["reps"])
    same = "-" if a["tok"] is None else ("yes" if a["tok"] == b["tok"] else "NO")
    print(f"| {label} | {ta:,.0f} | {tb:,.0f} | {ta / tb:.2f} | {a['rss'] / 1e6:.2f} | {b['rss'] / 1e6:.2f} | "
          f"{a['rss'] / b['rss']:.2f} | {same} |", flush=True)


def main():
    small, big = sys.argv[1], sys.argv[2]
    print("| case | tasft tokens/s | PyTorch tokens/s | speed ratio | tasft peak RSS GB | PyTorch peak RSS GB "
          "| memory ratio | same greedy tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for t in (1, 2):
        case(f"default model, train SFT 16x128, {t} thread(s)", ["train", small, str(t), "6", "2", "16", "128", "sft"],
             16 * 128)
    case("default model, train SFT 16x128, 2 threads, OPENBLAS_NUM_THREADS=2 (both)",
         ["train", small, "2", "6", "2", "16", "128", "sft"], 16 * 128, blas_threads=2)
    case("default model, train emd 16x128, 2 threads (tasft only: no emd in the anchor)",
         ["train", small, "2", "6", "2", "16", "128", "emd"], 16 * 128, anchor=False)
    for t in (1, 2):
        case(f"160M Llama, train SFT 2x128, {t} thread(s)", ["train", big, str(t), "2", "1", "2", "128", "sft"],
             2 * 128)
    case("160M Llama, train SFT 2x128, 2 threads, OPENBLAS_NUM_THREADS=2 (both)",
         ["train", big, "2", "2", "1", "2", "128", "sft"], 2 * 128, blas_threads=2)
    for dtype in ("float32", "bfloat16"):
        for batch in (1, 8):
            case(f"160M Llama, greedy 32 tokens, batch {batch}, {dtype}, 2 threads",
                 ["generate", big, "2", "2", "1", str(batch), "32", dtype], batch * 32)


main()
