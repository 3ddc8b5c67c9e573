#!/usr/bin/env bash
# Prepares, ON THIS (CI-kind) MACHINE, what bench/gpu/train-gpu.sh needs on the GPU machine (no Java, no Maven, no
# network; at most 64 MiB travel per call), in the git-ignored folder .jre/gpu-train/ (carry [".jre/gpu-train"]):
#   jdk.tgz          a jlink'd Java 17 runtime
#   lib/*.jar        tasft's classes (libtasft.so with CUDA sm_80/sm_90a inside), GpuTrainCheck, javacpp, the pytorch
#                    and cuda presets' classes, openblas' classes, jackson, picocli
#   natives.tar.xz   the JNI libraries as class-path resources: javacpp, openblas (+ libopenblas), cuda (the JNI glue;
#                    the CUDA libraries come from the GPU machine) and - route (A) - the GPU build's libjnitorch*.so
#                    WITHOUT libtorch: on the GPU machine they are loaded against PyTorch 2.11's own libtorch
# Route (B) (TASFT_ROUTE_B=1): also the 2.10 CUDA LibTorch libraries (libtorch_cuda.so 504 MB, libtorch_cpu.so ...)
# compressed and split into parts of < 60 MiB under .jre/gpu-train-parts/pNN/, one part per device call.
# Needs the GPU jar in the local repository (mvn dependency:get fetches it: 458 MB).
# DRY_RUN=1: builds everything, then runs GpuTrainCheck on the CPU with the jlink'd runtime and the carried files
# only (the correctness check and a small speed step) - the check that the carry is complete.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dest=.jre/gpu-train
rm -rf "$dest"
mkdir -p "$dest/lib"
repo=${MAVEN_REPO:-$HOME/.m2/repository}
gpu_jar=$repo/org/bytedeco/pytorch/2.10.0-1.5.13/pytorch-2.10.0-1.5.13-linux-x86_64-gpu.jar
if [[ ! -f $gpu_jar ]]; then
  mvn -B -q dependency:get -Dartifact=org.bytedeco:pytorch:2.10.0-1.5.13:jar:linux-x86_64-gpu -Dtransitive=false
fi
cuda_cls=$repo/org/bytedeco/cuda/13.1-9.19-1.5.13/cuda-13.1-9.19-1.5.13.jar
cuda_jni=$repo/org/bytedeco/cuda/13.1-9.19-1.5.13/cuda-13.1-9.19-1.5.13-linux-x86_64.jar
if [[ ! -f $cuda_jni ]]; then
  mvn -B -q dependency:get -Dartifact=org.bytedeco:cuda:13.1-9.19-1.5.13:jar:linux-x86_64 -Dtransitive=false
  mvn -B -q dependency:get -Dartifact=org.bytedeco:cuda:13.1-9.19-1.5.13 -Dtransitive=false
fi

# tasft (classes + libtasft.so, built with CUDA by cppbuild.sh) and the check program, without installing anything
[[ ${SKIP_BUILD:-0} == 1 ]] || mvn -B -q package -DskipTests   # SKIP_BUILD=1: reuse target/
mkdir -p "$dest/classes"
javac -d "$dest/classes" -cp "target/classes:target/lib/*:$cuda_cls" bench/src/main/java/org/tasft/bench/GpuTrainCheck.java
listing=$(unzip -l target/tasft-0.1.0-SNAPSHOT.jar)
[[ $listing == *libtasft.so* ]] || { echo "no libtasft.so in the tasft jar" >&2; exit 1; }
symbols=$(nm -D --defined-only cppbuild/linux-x86_64/lib/libtasft.so 2>/dev/null || true)
[[ $symbols == *tasft_emd_cuda* ]] || echo "warning: libtasft.so has no tasft_emd_cuda" >&2
(cd "$dest/classes" && jar cf ../lib/tasft-gpu-check.jar .) && rm -rf "$dest/classes"
cp target/tasft-0.1.0-SNAPSHOT.jar "$dest/lib/"
for pattern in 'javacpp-1.5.13.jar' 'pytorch-2.10.0-1.5.13.jar' 'openblas-0.3.31-1.5.13.jar' 'jackson-*.jar' \
               'picocli-*.jar' 'slf4j-*.jar' 'gson-*.jar'; do
  cp target/lib/$pattern "$dest/lib/"
done
cp "$cuda_cls" "$dest/lib/"

# native libraries as class-path resources, one xz archive (JAR deflate would make libopenblas 20 MB)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/natives"
for jar in target/lib/javacpp-1.5.13-linux-x86_64.jar target/lib/openblas-0.3.31-1.5.13-linux-x86_64.jar "$cuda_jni"; do
  unzip -q -o "$jar" 'org/*' -d "$tmp/natives"
done
unzip -q -o "$gpu_jar" 'org/bytedeco/pytorch/linux-x86_64-gpu/libjnitorch*.so' -d "$tmp/natives"
# Loaded from a folder, JavaCPP makes none of the aliases it makes when it extracts a jar into its cache: add the
# one openblas_nolapack needs; drop headers and the full-LAPACK JNI library nothing here loads (24 MB).
ob=$tmp/natives/org/bytedeco/openblas/linux-x86_64
rm -rf "$ob/include" "$ob/libjniopenblas_full.so"
ln -sf libopenblas.so.0 "$ob/libopenblas_nolapack.so.0"
find "$tmp/natives" -name include -type d -prune -exec rm -rf {} +
tar -C "$tmp/natives" -cJf "$dest/natives.tar.xz" org

jdk_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
"$jdk_home/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.management,jdk.unsupported,java.sql,java.xml \
  --strip-debug --no-header-files --no-man-pages --compress=2 --output "$tmp/jdk"
tar -C "$tmp" -czf "$dest/jdk.tgz" jdk
cp bench/gpu/llama-3.1-8b/config.json "$dest/llama-3.1-8b-config.json"
size=$(du -sb "$dest" | cut -f1)
echo "prepare-train-jvm.sh: $((size / 1048576)) MiB in $dest (carry it: \"$dest\"; the limit is 64 MiB with the tree)"
((size < 60 * 1048576)) || { echo "prepare-train-jvm.sh: $dest is over 60 MiB" >&2; exit 1; }

if [[ ${TASFT_ROUTE_B:-0} == 1 ]]; then
  parts=.jre/gpu-train-parts
  rm -rf "$parts"
  mkdir -p "$parts"
  unzip -q -o "$gpu_jar" 'org/bytedeco/pytorch/linux-x86_64-gpu/*.so' -x '*libjnitorch*' -d "$tmp/libtorch"
  tar -C "$tmp/libtorch" -cf - org | xz -T0 -6 | split -b 58m -d -a 2 - "$tmp/part-"
  for p in "$tmp"/part-*; do
    n=${p##*part-}
    mkdir -p "$parts/p$n"
    mv "$p" "$parts/p$n/libtorch.tar.xz.part"
  done
  (cd "$parts" && sha256sum p*/libtorch.tar.xz.part > ../gpu-train/parts.sha256)
  echo "prepare-train-jvm.sh: route (B): $(ls "$parts" | wc -l) parts under $parts (carry one per call: \"$parts/pNN\")"
fi

if [[ ${DRY_RUN:-0} == 1 ]]; then
  # the GPU machine's view: only the carried files (a fresh runtime, the jars, the unpacked natives), on the CPU
  run=$(mktemp -d)
  tar -C "$run" -xzf "$dest/jdk.tgz"
  mkdir -p "$run/natives"
  tar -C "$run/natives" -xJf "$dest/natives.tar.xz"
  # the CPU LibTorch stands in for the GPU machine's libtorch here (route A loads PyTorch's there)
  unzip -q -o target/lib/pytorch-2.10.0-1.5.13-linux-x86_64.jar 'org/*' -d "$run/natives"
  cp=$run/natives:$(ls "$dest"/lib/*.jar | tr '\n' ':')
  OPENBLAS_NUM_THREADS=1 "$run/jdk/bin/java" -Dorg.bytedeco.javacpp.cachedir="$run/cache" -cp "$cp" \
    org.tasft.bench.GpuTrainCheck correctness src/test/resources/fixtures/tiny-llama cpu
  OPENBLAS_NUM_THREADS=1 "$run/jdk/bin/java" -Dorg.bytedeco.javacpp.cachedir="$run/cache" -cp "$cp" \
    org.tasft.bench.GpuTrainCheck speed src/test/resources/fixtures/tiny-llama cpu bfloat16 8 64 2 16 2 true
  rm -rf "$run"
fi
