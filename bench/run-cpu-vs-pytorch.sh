#!/usr/bin/env bash
# tasft against PyTorch on this CPU, side by side (issue 17): training steps (SFT and emd, float32 and bfloat16) on
# the default job's model size and a ~160M Llama, greedy generation at batch 1 and 8 in float32 and bfloat16; the
# same safetensors weights for both, processes in the order A B B A, medians and ratios, peak resident sizes, the
# first training loss of both sides, then the training steps' parts (forward alone vs loss + backward, clipping,
# AdamW). Threads as ./tasft sets them (OMP_WAIT_POLICY=PASSIVE, one OpenBLAS thread per core) with LibTorch's and
# OpenMP's threads given in every row. PyTorch is the distribution's (Debian: apt-get install -y python3-torch
# libopenblas0-pthread; without OpenBLAS Debian's torch uses the reference BLAS, ~10x slower). Takes ~15 minutes on
# 2 cores.
# Usage: [MVN_FLAGS=...] [BENCH_ONLY=text] bench/run-cpu-vs-pytorch.sh   prints a Markdown table (bench/RESULTS.md
#        keeps one); BENCH_ONLY runs only the cases whose label contains the text (e.g. greedy, 160M, bfloat16)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "run-cpu-vs-pytorch: no python3-torch (apt-get install -y python3-torch)" >&2; exit 1; }
# target/classes + target/lib, and the test classes (the benchmark's Java half lives there); MVN_FLAGS: e.g.
# -Dtasft.skipNativeBuild where the native library is already built
mvn -B -q -DskipTests ${MVN_FLAGS:-} package
mvn -B -q ${MVN_FLAGS:-} test-compile
work=$(mktemp -d /tmp/tasft-cpu-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
tok=$work/tok
mkdir -p "$tok"
cp src/test/resources/fixtures/tiny-llama/{config.json,tokenizer.json} "$tok/"
cp -r "$tok" "$tok-32k"
sed -i 's/"vocab_size": *[0-9]*/"vocab_size": 512/' "$tok/config.json"      # the default job's vocabulary
sed -i 's/"vocab_size": *[0-9]*/"vocab_size": 32000/' "$tok-32k/config.json"
mk() { java -Xmx2g -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
  -cp "target/classes:target/lib/*" bench/MakeRandomLlama.java "$@" > /dev/null; }
mk "$work/small" 128 4 384 "$tok"                           # the default job's model size (hidden 128, 4 layers)
mk "$work/llama160m" 1024 8 2752 "$tok-32k"                 # 158M parameters
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg); PyTorch $(/usr/bin/python3 -c 'import torch;print(torch.__version__)')"
/usr/bin/python3 bench/cpu/side_by_side.py "$work/small" "$work/llama160m"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
