#!/usr/bin/env bash
# JMH benchmarks of the fused EMD kernel vs the same math in LibTorch ops, plus their extra memory.
# Usage: bench/run-jmh.sh [JMH arguments]     e.g. bench/run-jmh.sh -p dim=64 -f 1 -wi 2 -i 3
# Writes target/jmh-result.json (JMH) and target/jmh-memory.json (peak resident growth per method and shape).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The main project (native library + binding) into the local repository, then the benchmark jar.
mvn -B -q -DskipTests install
mvn -B -q -f bench/pom.xml package
cp="bench/target/tasft-bench-0.1.0-SNAPSHOT.jar:$(ls bench/target/lib/*.jar | tr '\n' ':')"

# OpenBLAS's own threads fight LibTorch's OpenMP threads (../shared/notes/platform.md): one BLAS thread.
export OPENBLAS_NUM_THREADS=1
mkdir -p target
echo "== JMH (machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
java -cp "$cp" org.openjdk.jmh.Main EmdKernelBenchmark -rf json -rff target/jmh-result.json "$@"

echo "== extra memory (peak resident growth of one fwd+bwd, one JVM per run)"
: > target/jmh-memory.json
for dim in 64 256; do
  for method in fused naive; do
    java -Xmx4g -cp "$cp" org.tasft.bench.PeakMemory "$method" 512 32000 "$dim" | tee -a target/jmh-memory.json
  done
done
