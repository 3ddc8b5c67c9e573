#!/usr/bin/env bash
# Register / spill / shared-memory report of every CUDA kernel for sm_90a (and sm_80 with --sm80), from ptxas -v.
# Usage: bench/gpu/ptxas-report.sh [--sm80]     writes bench/gpu/ptxas-sm90a.txt (or ptxas-sm80.txt)
# Needs only nvcc (no GPU). Kernel names are demangled with cu++filt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
filt=$(command -v c++filt || echo cat)
arch=sm_90a
[[ "${1:-}" == --sm80 ]] && arch=sm_80
out="$root/bench/gpu/ptxas-${arch#sm_}.txt"
out=${out/ptxas-90a/ptxas-sm90a}; out=${out/ptxas-80/ptxas-sm80}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "# ptxas -v for $arch, $("$nvcc" --version | tail -1)"
  echo "# regenerate: bench/gpu/ptxas-report.sh${1:+ $1}"
  for src in native/src/emd_cuda.cu native/src/emd_cuda_v2.cu native/src/emd_cuda_v3.cu native/src/emd_vp_cuda.cu \
             bench/gpu/emd_gpu_bench.cu bench/gpu/v3_gemm_bench.cu; do
    [[ -f "$root/$src" ]] || continue
    echo
    echo "## $src"
    # -gencode, not -arch=sm_90a: nvcc 13.0's shorthand also runs a plain compute_90 pass.
    "$nvcc" -O3 -std=c++17 --expt-relaxed-constexpr -gencode "arch=compute_${arch#sm_},code=$arch" \
        -I"$root/native/include" -I"$root/native/src" -I"$root/native/tests" -DTASFT_VERSION_STRING='"x"' \
        -DTASFT_CUDA_ARCHS="\"${arch#sm_}-real\"" -Xptxas -v -c "$root/$src" -o "$tmp/k.o" 2>&1 |
      grep -E "Compiling entry function|Used [0-9]+ registers|spill stores|bytes stack frame" |
      sed -E "s/^ptxas info *: //" |
      while IFS= read -r line; do
        if [[ "$line" =~ Compiling\ entry\ function\ \'([^\']+)\' ]]; then
          name=$(echo "${BASH_REMATCH[1]}" | "$filt" | sed -E 's/\(anonymous namespace\):://g; s/tasft::cuda::|tasft:://g')
          echo "- ${name}"
        else
          echo "    $line"
        fi
      done
  done
} > "$out"
echo "ptxas-report.sh: wrote $out"
