#!/usr/bin/env bash
# Data-parallel throughput: the same TA-SFT job with 1 process (1 and 2 OpenMP threads) and with 2 ranks of
# 1 thread (--nproc-per-node 2, Gloo on 127.0.0.1), bucketed and Reducer gradient sync, on two model sizes.
# Prints tokens/s (median over the steps after the first 5) and the rank-0 gradient-sync line.
# Usage: bench/data-parallel.sh [STEPS]   (default 30)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=${1:-30}
work=$(mktemp -d /tmp/tasft-dp-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$root"
./tasft --help >/dev/null                                  # builds when needed
export OPENBLAS_NUM_THREADS=1
tok=src/test/resources/fixtures/tiny-llama
java -cp "target/classes:target/lib/*" bench/MakeRandomLlama.java "$work/m25" 512 8 1376 "$tok"

python3 - "$work" <<'PY'
import json, random, sys
random.seed(1)
words = "the a river stone light quiet market garden seven window music paper bright north yellow".split()
def text(n): return " ".join(random.choice(words) for _ in range(n)).capitalize() + "."
safe = [{"instruction": text(8), "input": "", "output": text(random.randint(20, 60))} for _ in range(400)]
harm = [{"instruction": "Explain how to " + text(6), "input": "", "output": "Sure, " + text(30)} for _ in range(50)]
json.dump(safe, open(sys.argv[1] + "/safe.json", "w")); json.dump(harm, open(sys.argv[1] + "/harmful.json", "w"))
PY

median_tps() {  # tokens/s of the steps after the first 5
  python3 - "$1" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
tps = [r["tokens_per_s"] for r in rows[5:]] or [r["tokens_per_s"] for r in rows]
print(f"{statistics.median(tps):.0f}")
PY
}

run() {  # name model ranks omp-threads-per-process extra-args...
  local name=$1 model=$2 ranks=$3 omp=$4; shift 4
  local out="$work/out-$name" launch=()
  [[ $ranks -gt 1 ]] && launch=(--nproc-per-node "$ranks" --log-dir "$work/logs-$name")
  local t0=$SECONDS
  OMP_NUM_THREADS=$omp ./tasft train --model "$model" --safe "$work/safe.json" --harmful "$work/harmful.json" \
    --harmful-count 50 --batch-size 8 --safe-per-batch 7 --method emd --lambda 0.25 --steps "$steps" --lr 1e-4 \
    --max-length 160 \
    --no-progress --out "$out" "${launch[@]}" "$@" > "$work/$name.log" 2>&1
  local sync="-"
  local log0="$work/logs-$name/rank-0.log"
  [[ -f $log0 ]] && sync=$(grep -o 'gradient sync: .*' "$log0" || true)
  printf '%-22s ranks %d x %d threads  %6s tokens/s  wall %3d s  %s\n' "$name" "$ranks" "$omp" \
    "$(median_tps "$out/metrics.jsonl")" $((SECONDS - t0)) "$sync"
}

echo "uptime before: $(uptime)"
for model in "$tok" "$work/m25"; do
  tag=$([[ $model == "$tok" ]] && echo tiny || echo 25M)
  run "$tag-1proc" "$model" 1 1
  run "$tag-1proc" "$model" 1 2
  run "$tag-2ranks-bucketed" "$model" 2 1
  run "$tag-2ranks-reducer" "$model" 2 1 --grad-sync reducer
done
echo "uptime after: $(uptime)"
