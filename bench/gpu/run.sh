#!/usr/bin/env bash
# The GPU run of issue 5, in one call on a machine with an NVIDIA GPU (H100/H200), nvcc, CMake, python3 + PyTorch:
#   1. build libtasft, its tests and bench/gpu/emd_gpu_bench for this GPU's architecture (./cppbuild.sh)
#   2. ctest (the CUDA tests run here instead of skipping: v1, v2, v3 where it runs, AUTO, the skipping mode, the
#      vocabulary-parallel form)
#   3. compute-sanitizer memcheck and racecheck on a small case of every kernel (emd_gpu_bench --sanitize)
#   4. timing, main shapes first: emd_gpu_bench (v1, v2, v3, naive CUDA, cuBLAS floor; skipping mode on LM-like
#      logits; every version named per call, a version this GPU cannot run gets a "skipped: <reason>" line)
#      and torch_anchor.py (PyTorch eager, torch.compile, cuBLAS two-GEMM floor) in the same run
#   5. the smaller shapes, then JMH of the JNI binding on device memory (when .jre/gpu-jmh/ was carried along)
#   6. one table (make_table.py) -> $OUT/table.md, printed at the end
# Every step has a time limit so the whole run fits one 10-minute device call; a failed step does not stop the
# others, and the exit code is non-zero when any failed. Results: $OUT (default bench/gpu/results/<UTC time>/).
# Usage (from the device tool, which sets $OUT and carries .jre/ made by bench/gpu/prepare-jvm.sh):
#   bash bench/gpu/run.sh                          # everything
#   TASFT_GPU_QUICK=1 bash bench/gpu/run.sh        # main shapes only, fewer iterations
#   TASFT_GPU_BUDGET_S=540 (default) caps the whole run.
#   TASFT_GPU_TORCH=0 / TASFT_GPU_JMH=0 leave out the PyTorch anchors / JMH (e.g. a rerun after a kernel fix);
#   TASFT_GPU_PROFILE=1 adds Nsight Compute sections of v2's kernels (ncu, where installed and permitted).
#   TASFT_GPU_JMH_KERNELS=v2,v3 (default): the CUDA kernel versions JMH times (auto, v1, v2, v3).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OUT=${OUT:-$root/bench/gpu/results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1

budget=${TASFT_GPU_BUDGET_S:-540}
t0=$(date +%s)
declare -a summary=()
failed=0
# step NAME SECONDS COMMAND...: runs the command with a limit of min(SECONDS, what is left of the budget - 15 s).
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - ($(date +%s) - t0) - 15))
  ((limit > left)) && limit=$left
  if ((limit < 5)); then
    summary+=("SKIPPED (no time left)  $name")
    return
  fi
  echo
  echo "=== $name (limit ${limit}s, at $(($(date +%s) - t0))s)"
  local s=$(date +%s)
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  local took=$(($(date +%s) - s))
  if ((rc == 0)); then
    summary+=("ok ($took s)  $name")
  else
    [[ $rc == 124 || $rc == 137 ]] && summary+=("TIMED OUT after $took s  $name") || summary+=("FAILED rc=$rc ($took s)  $name")
    failed=1
  fi
}

export CUDACXX=${CUDACXX:-/usr/local/cuda/bin/nvcc}
export PATH=/usr/local/cuda/bin:$PATH
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "=== machine"
nvidia-smi --query-gpu=name,compute_cap,memory.total,clocks.max.sm,driver_version --format=csv | tee "$OUT/gpu.csv"
nvidia-smi -q > "$OUT/nvidia-smi.txt" 2>&1 || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" || true
"$CUDACXX" --version | tail -1
cmake --version | head -1
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ local changes)')"

cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
case "$cc" in
  90) arch=90a-real ;;   # wgmma-capable Hopper target, as the library ships it
  "") arch="80-real;90a-real" ;;
  *) arch=${cc}-real ;;
esac
build=cppbuild/build-linux-x86_64
bench_bin=$build/emd_gpu_bench
quick=${TASFT_GPU_QUICK:-0}
iters=$([[ $quick == 1 ]] && echo 5 || echo 10)
warmup=$([[ $quick == 1 ]] && echo 1 || echo 2)
main_shapes="8192,32000,4096;8192,128256,4096"
small_shapes="4096,32000,5120;2048,32000,2048;1024,32000,1024"
tsv=$OUT/bench.tsv

step "build (cppbuild.sh, CUDA $arch, tests + emd_gpu_bench)" 240 \
  env TASFT_CUDA=ON CMAKE_CUDA_ARCHITECTURES="$arch" ./cppbuild.sh
step "ctest (the CUDA tests first: cuda.*, vp_cuda.*; then all the others)" 120 \
  bash -c "ctest --test-dir $build -R 'cuda' --output-on-failure; a=\$?; ctest --test-dir $build -E 'cuda' -j 8 --output-on-failure && exit \$a"
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null || true)
if [[ -n "$sanitizer" ]]; then
  step "compute-sanitizer memcheck (emd_gpu_bench --sanitize)" 90 \
    "$sanitizer" --tool memcheck --leak-check full --error-exitcode 9 "$bench_bin" --sanitize
  step "compute-sanitizer racecheck (emd_gpu_bench --sanitize)" 90 \
    "$sanitizer" --tool racecheck --racecheck-report all --error-exitcode 9 "$bench_bin" --sanitize
else
  summary+=("MISSING compute-sanitizer")
  failed=1
fi
step "native timing, main shapes (v1 only where it finishes, v2, v3, naive, floor; skipping mode)" 150 \
  "$bench_bin" --shapes "$main_shapes" --iters "$iters" --warmup "$warmup" --out "$tsv"
torch=${TASFT_GPU_TORCH:-1}
[[ $torch == 1 ]] && step "PyTorch anchors, main shapes (eager, torch.compile, cuBLAS floor)" 180 \
  python3 bench/gpu/torch_anchor.py --shapes "$main_shapes" --iters "$iters" --warmup "$warmup" --out "$tsv"
if [[ $quick != 1 ]]; then
  step "native timing, smaller shapes (v1 included)" 90 \
    "$bench_bin" --shapes "$small_shapes" --iters "$iters" --warmup "$warmup" --skip 1e-5 --skip-impls v1,v2,v3 --out "$tsv"
  [[ $torch == 1 ]] && step "PyTorch anchors, smaller shapes (eager, floor)" 60 \
    python3 bench/gpu/torch_anchor.py --shapes "$small_shapes" --compile-shapes "" --iters "$iters" --warmup "$warmup" --out "$tsv"
fi
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || true)
if [[ ${TASFT_GPU_PROFILE:-0} == 1 && -n "$ncu_bin" ]]; then
  # One launch of each v2 kernel at the first main shape: where the time goes (throughputs, stalls, occupancy).
  step "Nsight Compute: v2 kernels at 8192 x 32000 x 4096" 120 \
    "$ncu_bin" --kernel-name regex:"row_stats|forward|finalize|backward" --launch-skip 0 --launch-count 4 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
    --section MemoryWorkloadAnalysis "$bench_bin" --shapes "8192,32000,4096" --impls v2 --iters 1 --warmup 0 --skip "" \
    > "$OUT/ncu-v2.txt"
fi

# JMH of the JNI binding on device memory: only when bench/gpu/prepare-jvm.sh's folder was carried along.
jmh=.jre/gpu-jmh
if [[ -f $jmh/jdk.tgz && ${TASFT_GPU_JMH:-1} == 1 ]]; then
  rt=$(mktemp -d)
  tar -C "$rt" -xzf "$jmh/jdk.tgz"
  gomp_path=""
  ldconfig -p 2>/dev/null | grep -q 'libgomp.so.1 ' || gomp_path=$root/$jmh/native
  step "JMH: EmdCudaBenchmark (fused v2 and v3, each named per call, vs cuBLAS floor through JNI, device memory)" 120 \
    env LD_LIBRARY_PATH="$LD_LIBRARY_PATH${gomp_path:+:$gomp_path}" \
    "$rt/jdk/bin/java" -cp "$jmh/lib/*" org.openjdk.jmh.Main EmdCudaBenchmark -p kernel="${TASFT_GPU_JMH_KERNELS:-v2,v3}" \
    -f 1 -wi 2 -w 1 -i 3 -r 2 \
    -jvmArgsAppend "-Dorg.bytedeco.javacpp.cachedir=$rt/javacpp-cache" -rf json -rff "$OUT/jmh-gpu.json"
else
  summary+=("not run: JMH ($jmh/jdk.tgz absent: run bench/gpu/prepare-jvm.sh where Java is, carry .jre)")
fi

echo
echo "=== table ($OUT/table.md)"
if [[ -s $tsv ]]; then
  python3 bench/gpu/make_table.py "$tsv" | tee "$OUT/table.md"
else
  echo "no timing rows"
fi
echo
echo "=== summary ($(($(date +%s) - t0)) s, results in $OUT)"
for line in "${summary[@]}"; do echo "  $line"; done
exit $failed
