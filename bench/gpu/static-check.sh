#!/usr/bin/env bash
# Static check of the CUDA kernels for Hopper (issue 11, stage S0), with nvcc only: no GPU needed.
# Compiles every CUDA source (native/src/*.cu, bench/gpu/*.cu) for sm_90a with the library's flags and prints, per
# kernel: registers, spill store/load bytes, stack frame, static shared memory (ptxas -v), and whether the kernel's PTX
# body contains wgmma.mma_async and cp.async.bulk.tensor (nvcc's PTX, split on .entry).
# The v3 kernels v3_forward, v3_backward (native/src/emd_cuda_v3.cu) and v3_gemm_k1, v3_gemm_k3
# (bench/gpu/v3_gemm_bench.cu, when that file exists) FAIL when one spills, has a stack frame, lacks either instruction,
# or ptxas reports its wgmma serialized. The sources with v3 code are also compiled for sm_80 and for compute_90 (its
# PTX assembled for plain sm_90, as the driver's JIT would), where that code must be guarded out.
# Usage: bench/gpu/static-check.sh [--out FILE] [--jobs N]
#   default FILE: bench/gpu/static-check-sm90a.txt (committed); exit 1 on any failure, one "FAIL ..." line each.
#   TASFT_STATIC_CHECK=0 prints SKIP and exits 0 (ctest reports it as skipped).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [[ "${TASFT_STATIC_CHECK:-1}" == 0 ]]; then
  echo "SKIP static-check.sh: TASFT_STATIC_CHECK=0"
  exit 0
fi
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
filt=$(command -v c++filt || command -v cu++filt || echo cat)
out=$root/bench/gpu/static-check-sm90a.txt
jobs=$(nproc 2>/dev/null || echo 2)
while (($#)); do
  case $1 in
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "static-check.sh: unknown argument $1 (usage: static-check.sh [--out FILE] [--jobs N])" >&2; exit 2 ;;
  esac
done
if ! [[ -x $nvcc ]] && ! command -v "$nvcc" >/dev/null; then
  echo "static-check.sh: no nvcc ($nvcc); set CUDACXX" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

flags=(-O3 -std=c++17 --expt-relaxed-constexpr -Inative/include -Inative/src -Inative/tests
       -DTASFT_VERSION_STRING='"x"')
v3_required=(v3_forward v3_backward)   # must use wgmma + TMA, no spills, no stack
sources=()
for f in native/src/*.cu bench/gpu/*.cu; do [[ -f $f ]] && sources+=("$f"); done
gemm_bench=bench/gpu/v3_gemm_bench.cu
if [[ -f $gemm_bench ]]; then
  v3_required+=(v3_gemm_k1 v3_gemm_k3)
  scope="loss kernels and the S1 GEMM benchmark ($gemm_bench)"
else
  scope="loss kernels only ($gemm_bench does not exist yet: v3_gemm_k1/k3 not checked)"
fi
# Sources with v3 (sm_90a-only) device code: compiled for sm_80 and compute_90 too.
mapfile -t v3_sources < <(grep -lE 'emd_v3_mainloop\.cuh|sm90_wgmma\.cuh|TASFT_V3_DEVICE' "${sources[@]}")

# compile PASS SRC: one nvcc run, its log and exit code under $tmp/PASS/NAME.*
compile() {
  local pass=$1 src=$2 name dir
  name=$(basename "$src" .cu)
  dir=$tmp/$pass/$name
  mkdir -p "$dir"
  case $pass in
    sm_90a) "$nvcc" "${flags[@]}" -DTASFT_CUDA_ARCHS='"90a-real"' -gencode arch=compute_90a,code=sm_90a \
              -Xptxas -v --keep --keep-dir "$dir" -c "$src" -o "$dir/$name.o" > "$tmp/$pass/$name.log" 2>&1 ;;
    sm_80) "$nvcc" "${flags[@]}" -DTASFT_CUDA_ARCHS='"80-real"' -gencode arch=compute_80,code=sm_80 \
              -c "$src" -o "$dir/$name.o" > "$tmp/$pass/$name.log" 2>&1 ;;
    compute_90) "$nvcc" "${flags[@]}" -DTASFT_CUDA_ARCHS='"90-virtual"' -gencode arch=compute_90,code=sm_90 \
              -c "$src" -o "$dir/$name.o" > "$tmp/$pass/$name.log" 2>&1 ;;
  esac
  echo $? > "$tmp/$pass/$name.rc"
}

t0=$(date +%s)
echo "static-check.sh: compiling ${#sources[@]} sources for sm_90a and ${#v3_sources[@]} with v3 code for sm_80 and" \
     "compute_90 ($jobs at a time)..." >&2
running=0
for job in $(for s in "${sources[@]}"; do echo "sm_90a:$s"; done; for s in "${v3_sources[@]}"; do echo "sm_80:$s"; echo "compute_90:$s"; done); do
  compile "${job%%:*}" "${job#*:}" &
  running=$((running + 1))
  if ((running >= jobs)); then wait -n; running=$((running - 1)); fi
done
wait

declare -a failures=()
shorten() {  # demangled name -> short: no namespaces we own, no return type, no argument list
  sed -E 's/\(anonymous namespace\):://g; s/tasft::cuda::|tasft::v3::|tasft::sm90::|tasft:://g; s/^void //;
          s/\([^()]*\)$//'
}

{
  echo "# static-check.sh: CUDA kernels for sm_90a, $("$nvcc" --version | tail -1)"
  echo "# regenerate: bench/gpu/static-check.sh   (no GPU needed; ctest runs it as static.sm90a_kernels)"
  echo "# checked: $scope"
  echo "# regs: ptxas registers per thread at launch (v3 consumers raise theirs with setmaxnreg); stack/spill: bytes;"
  echo "# smem: static shared memory (v3 uses dynamic shared memory, not shown); wgmma / tma: the kernel's PTX contains"
  echo "# wgmma.mma_async / cp.async.bulk.tensor"
  for src in "${sources[@]}"; do
    name=$(basename "$src" .cu)
    log=$tmp/sm_90a/$name.log
    echo
    echo "## $src"
    if [[ $(cat "$tmp/sm_90a/$name.rc") != 0 ]]; then
      grep -E "error" "$log" | head -5 | sed 's/^/    /'
      failures+=("FAIL $src: does not compile for sm_90a (nvcc exit $(cat "$tmp/sm_90a/$name.rc"))")
      continue
    fi
    ptx=$(ls "$tmp/sm_90a/$name"/*.ptx 2>/dev/null | head -1)
    [[ -n $ptx ]] || failures+=("FAIL $src: nvcc kept no PTX, so wgmma / TMA use cannot be checked")
    # ptxas -v: entry -> regs, smem; function properties -> stack, spills; wgmma serialization notes -> per function.
    awk '
      /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); cur = substr($0, RSTART + 1, RLENGTH - 2); order[++n] = cur; next }
      /Function properties for/ { prop = $NF; next }
      /bytes stack frame/ { match($0, /[0-9]+ bytes stack frame/); st[prop] = substr($0, RSTART, RLENGTH) + 0;
                            match($0, /[0-9]+ bytes spill stores/); ss[prop] = substr($0, RSTART, RLENGTH) + 0;
                            match($0, /[0-9]+ bytes spill loads/); sl[prop] = substr($0, RSTART, RLENGTH) + 0; next }
      /Used [0-9]+ registers/ { match($0, /Used [0-9]+ registers/); regs[cur] = substr($0, RSTART + 5, RLENGTH - 15) + 0;
                                if (match($0, /[0-9]+ bytes smem/)) smem[cur] = substr($0, RSTART, RLENGTH) + 0; next }
      tolower($0) ~ /wgmma/ && tolower($0) ~ /serializ/ {
        f = "?"; if (match($0, /'"'"'[^'"'"']+'"'"'/)) f = substr($0, RSTART + 1, RLENGTH - 2)
        ser[f] = 1; note = $0; sub(/^ptxas[^:]*: */, "", note); sernote[f] = note; next }
      END {
        for (i = 1; i <= n; ++i) { k = order[i]
          printf "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", k, regs[k], st[k], ss[k], sl[k], smem[k], (k in ser) }
        for (k in ser) if (!(k in regs)) printf "%s\t-1\t0\t0\t0\t0\t1\n", k   # a helper function, or "?"
      }' "$log" > "$tmp/$name.ptxas.tsv"
    # PTX bodies: everything from one .entry to the next belongs to the first.
    awk '
      /\.entry[ \t]+[A-Za-z_$]/ { match($0, /\.entry[ \t]+[^( \t]+/); cur = substr($0, RSTART, RLENGTH); sub(/\.entry[ \t]+/, "", cur); next }
      cur != "" && /wgmma\.mma_async/ { w[cur] = 1 }
      cur != "" && /cp\.async\.bulk\.tensor/ { t[cur] = 1 }
      END { for (k in w) print k "\twgmma"; for (k in t) print k "\ttma" }' "${ptx:-/dev/null}" > "$tmp/$name.ptx.tsv"
    # ptxas performance notes (C75xx: wgmma serialized, waits or arrives injected by the compiler), as printed.
    grep -E "\(C75[0-9][0-9]\)" "$log" | sed -E 's/^ptxas[^:]*: */    ptxas: /' |
      "$filt" | sed -E 's/\(anonymous namespace\):://g; s/tasft::(cuda|v3|sm90)::|tasft:://g'
    printf "    %-52s %5s %6s %9s %9s %6s %6s %4s\n" kernel regs stack spill_st spill_ld smem wgmma tma
    found=""
    while IFS=$'\t' read -r mangled regs stack sst sld smem serialized; do
      short=$(echo "$mangled" | "$filt" | shorten)
      if ((regs < 0)); then  # wgmma serialized in a function that is not a kernel (or that ptxas did not name)
        [[ $mangled == "?" ]] && short="(a function ptxas did not name)"
        echo "    wgmma serialized in non-kernel function ${short:0:80}"
        [[ " ${v3_sources[*]} " == *" $src "* ]] &&
          failures+=("FAIL $src: ptxas reports wgmma serialized in ${short:0:80} (a v3 source)")
        continue
      fi
      w=no; t=no
      grep -qxF "$mangled"$'\t'wgmma "$tmp/$name.ptx.tsv" && w=yes
      grep -qxF "$mangled"$'\t'tma "$tmp/$name.ptx.tsv" && t=yes
      printf "    %-52s %5s %6s %9s %9s %6s %6s %4s\n" "${short:0:52}" "$regs" "$stack" "$sst" "$sld" "$smem" "$w" "$t"
      base=${short%%<*}
      for req in "${v3_required[@]}"; do
        [[ $base == "$req" ]] || continue
        found+=" $req"
        ((sst > 0 || sld > 0)) && failures+=("FAIL $req: spills ($sst bytes stored, $sld bytes loaded) [$src]")
        ((stack > 0)) && failures+=("FAIL $req: $stack bytes stack frame [$src]")
        [[ $w == yes ]] || failures+=("FAIL $req: no wgmma.mma_async in its PTX [$src]")
        [[ $t == yes ]] || failures+=("FAIL $req: no cp.async.bulk.tensor in its PTX [$src]")
        ((serialized)) && failures+=("FAIL $req: ptxas reports its wgmma serialized [$src]")
      done
    done < "$tmp/$name.ptxas.tsv"
    echo "$found" > "$tmp/$name.found"
  done

  # Every required v3 kernel must have been seen somewhere.
  seen=$(cat "$tmp"/*.found 2>/dev/null | tr ' ' '\n' | sort -u)
  for req in "${v3_required[@]}"; do
    grep -qx "$req" <<< "$seen" || failures+=("FAIL $req: kernel not found in any sm_90a compilation")
  done

  echo
  echo "## other passes (sources with v3 code; that code must be guarded out)"
  for src in "${v3_sources[@]}"; do
    name=$(basename "$src" .cu)
    for pass in sm_80 compute_90; do
      rc=$(cat "$tmp/$pass/$name.rc")
      if [[ $rc == 0 ]]; then
        echo "    ok    $pass  $src"
      else
        echo "    FAIL  $pass  $src"
        grep -E "error" "$tmp/$pass/$name.log" | head -5 | sed 's/^/        /'
        failures+=("FAIL $src: does not compile for $pass (nvcc exit $rc)")
      fi
    done
  done

  echo
  if ((${#failures[@]})); then
    echo "## result: ${#failures[@]} failure(s)"
    printf '%s\n' "${failures[@]}"
  else
    echo "## result: ok (${v3_required[*]}: wgmma + TMA, no spills, no stack frame, no serialized wgmma)"
  fi
} > "$out"

cat "$out"
echo "static-check.sh: wrote $out ($(($(date +%s) - t0)) s)" >&2
((${#failures[@]} == 0))
