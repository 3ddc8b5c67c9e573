#!/usr/bin/env bash
# Builds HERE (no GPU needed, only nvcc + CMake) everything bench/gpu/v3-window.sh runs in a device window, for sm_90a
# only, in its own build folder so the normal build (cppbuild/build-linux-x86_64) is untouched, copies the binaries into
# one folder to carry, checks them (ldd, sizes, dry run) and prints the exact device call.
#   bash bench/gpu/prepare-v3-window.sh            # configure + build (incremental) + stage + check
#   V3_DEBUG=1 bash bench/gpu/prepare-v3-window.sh # v3 pipeline waits trap after 0.5 s instead of 10 s (TASFT_V3_DEBUG)
#   PREPARE_CHECK_ONLY=1 ...                       # no build: only check what is staged
# Build:  cppbuild/build-sm90a   (CMAKE_CUDA_ARCHITECTURES=90a-real, Release)
# Staged: cppbuild/v3-window/    libtasft.so emd_gpu_bench v3_gemm_bench test_emd_cuda MANIFEST extra/libgomp.so.1
#         (the one carry path)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=cppbuild/build-sm90a
stage=cppbuild/v3-window
if [[ -z "${CUDACXX:-}" ]] && ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

if [[ "${PREPARE_CHECK_ONLY:-0}" != 1 ]]; then
  cmake -S . -B "$build" -DTASFT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real -DCMAKE_BUILD_TYPE=Release \
    -DTASFT_V3_DEBUG="$([[ ${V3_DEBUG:-0} == 1 ]] && echo ON || echo OFF)" >/dev/null
  targets=(tasft emd_gpu_bench test_emd_cuda)
  # v3_gemm_bench (stage S1) once its CMake target exists.
  grep -q 'add_executable(v3_gemm_bench' CMakeLists.txt && targets+=(v3_gemm_bench)
  cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"
  rm -rf "$stage"
  mkdir -p "$stage"
  for f in libtasft.so emd_gpu_bench v3_gemm_bench native/tests/test_emd_cuda; do
    [[ -f $build/$f ]] && cp -p "$build/$f" "$stage/"
  done
  # libtasft.so needs libgomp.so.1; v3-window.sh puts this copy on the library path only where the machine has none.
  gomp=$(g++ -print-file-name=libgomp.so.1 2>/dev/null || true)
  if [[ -f $gomp ]]; then mkdir -p "$stage/extra" && cp -L "$gomp" "$stage/extra/libgomp.so.1"; fi
  {
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- native bench/gpu CMakeLists.txt || echo ' (+ local changes)')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) by bench/gpu/prepare-v3-window.sh, CUDA 90a-real, Release, TASFT_V3_DEBUG=${V3_DEBUG:-0}"
    echo "nvcc $("${CUDACXX:-nvcc}" --version | tail -1)"
    # test_emd_cuda's golden case reads the fixtures from this absolute path (TASFT_FIXTURES, baked in at build time).
    echo "fixtures $root/src/test/resources/fixtures"
    (cd "$stage" && sha256sum -- libtasft.so emd_gpu_bench v3_gemm_bench test_emd_cuda 2>/dev/null)
  } > "$stage/MANIFEST"
fi

echo "=== staged in $stage"
ls -l "$stage"
status=0
for f in libtasft.so emd_gpu_bench test_emd_cuda; do
  [[ -f $stage/$f ]] || { echo "MISSING $stage/$f"; status=1; }
done
[[ -f $stage/v3_gemm_bench ]] || echo "note: no v3_gemm_bench (its CMake target is not there yet): the window skips stage S1"

# Shared libraries: only the C runtime, libgomp and libtasft itself (cudart is static, cuBLAS is dlopen'ed at run time).
echo "=== ldd (with LD_LIBRARY_PATH=$stage, as on the device)"
for f in "$stage"/*; do
  [[ -f $f && -x $f ]] || continue
  libs=$(LD_LIBRARY_PATH=$stage ldd "$f" 2>&1 | awk '{print $1}' | sort -u | tr '\n' ' ')
  echo "$(basename "$f"): $libs"
  unusual=$(echo "$libs" | tr ' ' '\n' |
    grep -vE '^$|^linux-vdso|^/lib64/ld-linux|^lib(c|m|dl|rt|pthread|gcc_s|gomp|stdc\+\+)\.so|^libtasft\.so' || true)
  if [[ -n $unusual ]]; then echo "  UNUSUAL: $unusual"; status=1; fi
  LD_LIBRARY_PATH=$stage ldd "$f" 2>&1 | grep -q 'not found' && { echo "  NOT FOUND in ldd output"; status=1; }
done
echo "(libcublas / libcublasLt / libcuda are loaded with dlopen at run time; ldd lists none of them)"
# The newest glibc / libstdc++ symbol versions they ask for: the device image must have at least these.
for f in "$stage"/libtasft.so "$stage"/emd_gpu_bench "$stage"/v3_gemm_bench "$stage"/test_emd_cuda; do
  [[ -f $f ]] || continue
  echo "$(basename "$f") needs: $(objdump -T "$f" 2>/dev/null | grep -oE '(GLIBC|GLIBCXX|GCC)_[0-9.]+' | sort -u -V |
    awk -F_ '{m[$1] = $0} END {for (k in m) printf "%s ", m[k]}')"
done

size_kib=$(du -sk "$stage" | cut -f1)
echo "=== carry size: $stage = $((size_kib / 1024)) MiB ($size_kib KiB; the device tool carries at most 64 MiB)"
((size_kib < 60 * 1024)) || { echo "TOO BIG for one carry"; status=1; }

echo "=== dry run of the window script"
DRY_RUN=1 OUT=$(mktemp -d) bash bench/gpu/v3-window.sh || status=1

cat <<EOF

=== the device call (one window; the script caps itself at TASFT_V3_BUDGET_S=420 s):
run(command="bash bench/gpu/v3-window.sh", carry=["$stage"], timeout_s=480)
(no kind named: an H100, whose Firecracker runtime lets compute-sanitizer run; 480 s = the 420 s budget + slack,
 leaving device time for one rerun of a step. Then give_back.)
EOF
exit $status
