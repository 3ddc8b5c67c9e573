#!/usr/bin/env bash
# Step time of SFT vs TA-SFT (emd) on the default job's model, same batch, alternating; medians.
# Usage: bench/run-train-step.sh [rounds warmup batch harmful seq threads]   (default 40 10 16 2 128, all cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# target/classes + target/lib (the launcher's build), then the test classes (the benchmark lives there).
./tasft --help > /dev/null
mvn -B -q test-compile -Dtasft.skipNativeBuild
export OPENBLAS_NUM_THREADS=1
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
java -Xmx2g -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
  -cp "target/test-classes:target/classes:target/lib/*" org.tasft.train.TrainStepBenchmark "$@"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
