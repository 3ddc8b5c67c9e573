#!/usr/bin/env bash
# Prepares, ON THIS (CI-kind) MACHINE, what the GPU machine needs for the JMH run of the JNI binding on device memory
# (it has no Java, no Maven, no network): a jlink'd Java 17 runtime and the few jars EmdCudaBenchmark uses, in the
# git-ignored folder .jre/gpu-jmh/ (about 30 MB), which the device call carries (run tool: carry [".jre"]).
#   .jre/gpu-jmh/jdk.tgz   java.base, java.logging, java.management, jdk.unsupported (--compress=2, stripped)
#   .jre/gpu-jmh/lib/      tasft (with libtasft.so built here, CUDA sm_80/sm_90a), tasft-bench, javacpp (+linux),
#                          cuda (+linux: the JNI glue; the CUDA libraries come from the GPU machine), JMH and its deps
#   .jre/gpu-jmh/native/   libgomp.so.1 (libtasft's OpenMP runtime, in case the GPU machine lacks it)
# Like bench/run-jmh.sh it installs the main project into the local Maven repository (the bench module depends on it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dest=.jre/gpu-jmh
rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/native"

mvn -B -q -DskipTests install
mvn -B -q -f bench/pom.xml package
# Everything EmdCudaBenchmark touches; not LibTorch, OpenBLAS, DJL or the other bench dependencies.
cp bench/target/tasft-bench-0.1.0-SNAPSHOT.jar "$dest/lib/"
for pattern in 'tasft-0.1.0-SNAPSHOT.jar' 'javacpp-1.5.13*.jar' 'cuda-13.1-9.19-1.5.13*.jar' 'jmh-core-*.jar' \
               'jopt-simple-*.jar' 'commons-math3-*.jar'; do
  found=$(find bench/target/lib -maxdepth 1 -name "$pattern")
  [[ -n "$found" ]] || { echo "prepare-jvm.sh: no jar matches $pattern in bench/target/lib" >&2; exit 1; }
  cp $found "$dest/lib/"
done
unzip -l "$dest/lib/tasft-0.1.0-SNAPSHOT.jar" | grep -q 'libtasft.so' ||
  { echo "prepare-jvm.sh: the tasft jar has no libtasft.so" >&2; exit 1; }

gomp=$(ldconfig -p | awk '/libgomp.so.1 .*x86-64/ {print $NF; exit}')
[[ -n "$gomp" ]] && cp -L "$gomp" "$dest/native/libgomp.so.1"

jdk_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$jdk_home/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.unsupported \
  --strip-debug --no-header-files --no-man-pages --compress=2 --output "$tmp/jdk"
tar -C "$tmp" -czf "$dest/jdk.tgz" jdk
# The runtime must be able to start JMH and list the benchmark (no GPU needed for that).
"$tmp/jdk/bin/java" -cp "$dest/lib/*" org.openjdk.jmh.Main -l EmdCudaBenchmark | grep -q EmdCudaBenchmark.fused ||
  { echo "prepare-jvm.sh: the jlink'd runtime cannot list EmdCudaBenchmark" >&2; exit 1; }
du -sh "$dest" | awk '{print "prepare-jvm.sh: " $1 " in '"$dest"' (carry it: \".jre\")"}'
