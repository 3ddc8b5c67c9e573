#!/usr/bin/env bash
# Peak memory and step time of training with the fused LM head vs the logits path (issue 15), in one run:
# the default job's model with its vocabulary (512) and with 32000, batch 8 x 512, method emd.
# Usage: bench/run-fused-head.sh [vocabs rounds warmup batch seq harmful threads]   (default 512,32000 5 2 8 512 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./tasft --help > /dev/null   # target/classes + target/lib (the launcher's build)
mvn -B -q test-compile -Dtasft.skipNativeBuild
export OPENBLAS_NUM_THREADS=1
# A fixed mmap threshold: glibc otherwise raises it after the first large free and keeps later [tokens, vocab]
# buffers in its heap, so the resident peak would not show what a step allocates.
export MALLOC_MMAP_THRESHOLD_=131072
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
java -Xms1g -Xmx1g -XX:+AlwaysPreTouch -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
  -cp "target/test-classes:target/classes:target/lib/*" org.tasft.train.FusedHeadBenchmark "$@"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
