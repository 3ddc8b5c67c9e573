#!/usr/bin/env bash
# Builds native/ (libtasft and its tests) with CMake and installs it Bytedeco-style into
#   cppbuild/<platform>/include/tasft/emd.h and cppbuild/<platform>/lib/libtasft.so
# Usage: ./cppbuild.sh [test]      "test" also runs the native unit tests (ctest).
# Environment: TASFT_CUDA=AUTO|ON|OFF (default AUTO: compile the CUDA kernel when nvcc is found),
#              CMAKE_CUDA_ARCHITECTURES (default "80-real;90a-real;90-virtual"), CMAKE_BUILD_TYPE (Release).
set -euo pipefail
cd "$(dirname "$0")"

PLATFORM=${PLATFORM:-linux-x86_64}
TASFT_CUDA=${TASFT_CUDA:-AUTO}
BUILD_DIR=cppbuild/build-$PLATFORM
PREFIX=$PWD/cppbuild/$PLATFORM

# nvcc often lives outside PATH; CMake looks for it via CUDACXX or PATH.
if [[ "$TASFT_CUDA" != OFF && -z "${CUDACXX:-}" ]] && ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

cmake_args=(-S . -B "$BUILD_DIR" -DCMAKE_INSTALL_PREFIX="$PREFIX" -DTASFT_CUDA="$TASFT_CUDA"
            -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}")
[[ -n "${CMAKE_CUDA_ARCHITECTURES:-}" ]] && cmake_args+=(-DCMAKE_CUDA_ARCHITECTURES="$CMAKE_CUDA_ARCHITECTURES")

cmake "${cmake_args[@]}" >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
cmake --install "$BUILD_DIR" >/dev/null
echo "cppbuild.sh: installed $PREFIX/lib/libtasft.so and $PREFIX/include/tasft/emd.h"

if [[ "${1:-}" == test ]]; then
  ctest --test-dir "$BUILD_DIR" --output-on-failure
fi
