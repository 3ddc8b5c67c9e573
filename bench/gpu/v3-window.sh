#!/usr/bin/env bash
# The first GPU window of issue 11 (CUDA v3): stage S1 (the v3 main loops as plain bf16 GEMMs vs cuBLAS, gate >= 0.85)
# and a first end-to-end look at the v3 loss kernel, in one call on an H100/H200. It builds NOTHING: it runs the
# binaries that bench/gpu/prepare-v3-window.sh built here for sm_90a and staged in cppbuild/v3-window/ (carried).
#   1. machine facts (nvidia-smi, driver, OS, PyTorch); the carried binaries checked against their MANIFEST and for
#      loading here (ldd: system libraries and glibc versions of the machine that built them)
#   2. S1: v3_gemm_bench k1 (forward, U = P'E: M=8192, N=4096, K=32000 / 128256), then k3 (backward, S = R E^T:
#      M=8192, N=32000 / 128256, K=4096); the table of v3/cuBLAS speed ratios and the gate -> $OUT/s1.md
#   3. test_emd_cuda, every case (v1, v2, v3, the automatic choice)
#   4. compute-sanitizer memcheck of v3 on small cases (the S1 GEMMs with tails; test_emd_cuda's v3 case)
#   5. emd_gpu_bench --impls floor,v2,v3 at N=8192, D=4096, V=32000 then 128256 (one process per shape, so a v3
#      failure at one shape loses nothing else); 6. torch_anchor.py at the same shapes if time remains
#   7. one table (make_table.py) -> $OUT/table.md and the summary
# Order: S1 first (it decides the route), correctness next, timings last. Every step runs under `timeout`, capped by
# what is left of the budget; a failed step does not stop the others; exit code 1 when any failed.
# Usage (device tool; OUT is set there):  bash bench/gpu/v3-window.sh
#   DRY_RUN=1        check that every carried file exists and print the commands without running them (no GPU needed)
#   TASFT_V3_BUDGET_S=420 (default) caps the whole script: a 600 s call leaves room for one rerun.
#   TASFT_V3_ITERS=10, TASFT_V3_WARMUP=2; TASFT_V3_TORCH=0 leaves PyTorch out; TASFT_V3_STAGE=cppbuild/v3-window.
#   TASFT_V3_BUILD=1 only if step 1 says the carried binaries cannot load there: builds them there first (the one
#   exception to "no rebuild"; give it TASFT_V3_BUDGET_S=560 and TASFT_V3_TORCH=0).
# Exit codes of the steps: 0 ok, 124/137 timed out, 77 the tool refused this machine (compute-sanitizer on gVisor).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dry=${DRY_RUN:-0}
OUT=${OUT:-$root/bench/gpu/results/v3-window-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1

budget=${TASFT_V3_BUDGET_S:-420}
iters=${TASFT_V3_ITERS:-10}
warmup=${TASFT_V3_WARMUP:-2}
stage=${TASFT_V3_STAGE:-cppbuild/v3-window}
t0=$(date +%s)
declare -a summary=()
failed=0
nstep=0
planned=0
# step NAME SECONDS COMMAND...: runs the command with a limit of min(SECONDS, what is left of the budget - 15 s),
# its output also in $OUT/NN-<first word of NAME>.log. DRY_RUN=1: prints it instead.
step() {
  local name=$1 limit=$2
  shift 2
  nstep=$((nstep + 1))
  local log
  log=$OUT/$(printf %02d $nstep)-$(echo "$name" | cut -d' ' -f1-3 | tr -c 'A-Za-z0-9_.\n-' _ | cut -c1-40).log
  if [[ $dry == 1 ]]; then
    planned=$((planned + limit))
    printf '[dry] %-62s limit %3ss: %s\n' "$name" "$limit" "$(printf '%q ' "$@")"
    summary+=("dry  $name")
    return
  fi
  local left=$((budget - ($(date +%s) - t0) - 15))
  ((limit > left)) && limit=$left
  if ((limit < 5)); then
    summary+=("SKIPPED (no time left)  $name")
    return
  fi
  echo
  echo "=== $name (limit ${limit}s, at $(($(date +%s) - t0))s; log $log)"
  local s=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local took=$(($(date +%s) - s))
  if ((rc == 0)); then
    summary+=("ok ($took s)  $name")
  else
    if ((rc == 77)); then
      summary+=("UNSUPPORTED here ($took s)  $name")   # e.g. compute-sanitizer on gVisor: "Device not supported"
      return
    fi
    [[ $rc == 124 || $rc == 137 ]] && summary+=("TIMED OUT after $took s  $name") || summary+=("FAILED rc=$rc ($took s)  $name")
    failed=1
  fi
}
note() { summary+=("$1"); echo "$1"; }

export PATH=/usr/local/cuda/bin:$PATH
# The carried binaries find libtasft.so here (their RUNPATH names the build folder of the machine that built them),
# and libgomp.so.1 in $stage/extra when the machine has none. Python (PyTorch) keeps the machine's own setting.
py_ld=${LD_LIBRARY_PATH:-}
ld=$root/$stage
ldconfig -p 2>/dev/null | grep -q 'libgomp\.so\.1 ' || ld+=:$root/$stage/extra
export LD_LIBRARY_PATH=$ld:/usr/local/cuda/lib64${py_ld:+:$py_ld}
gemm=$stage/v3_gemm_bench
bench=$stage/emd_gpu_bench
tests=$stage/test_emd_cuda
shape32=8192,32000,4096
shape128=8192,128256,4096

echo "=== v3 window ($([[ $dry == 1 ]] && echo 'DRY RUN, nothing is run' || echo "budget ${budget}s"), results in $OUT)"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
missing=0
for f in "$stage/libtasft.so" "$bench" "$tests" "$stage/MANIFEST" bench/gpu/torch_anchor.py bench/gpu/make_table.py \
         src/test/resources/fixtures/emd/cases.safetensors; do
  if [[ -f $f ]]; then
    echo "  have $f ($(du -k "$f" | cut -f1) KiB)"
  else
    note "MISSING $f (run bench/gpu/prepare-v3-window.sh here and carry $stage)"
    missing=1
  fi
done
for f in "$bench" "$tests" "$gemm"; do
  [[ -f $f && ! -x $f ]] && { note "NOT EXECUTABLE $f"; missing=1; }
done
[[ -f $gemm ]] || note "MISSING $gemm: stage S1 cannot run (its CMake target was not built)"
if [[ -f $stage/MANIFEST ]]; then
  sed 's/^/  manifest: /' "$stage/MANIFEST" | grep -v '  manifest: [0-9a-f]\{64\} '
  (cd "$stage" && grep -E '^[0-9a-f]{64}  ' MANIFEST | sha256sum --quiet -c -) && echo "  carried binaries match the MANIFEST" ||
    { note "CHECKSUM MISMATCH in $stage (see above)"; missing=1; }
fi
((missing)) && failed=1

# What the carried binaries can do (they may predate the v3 harness work): emd_gpu_bench from its source (the MANIFEST
# says the binary was built from this commit), test_emd_cuda from the case names in the binary.
bench_v3=0
grep -q '"v3"' bench/gpu/emd_gpu_bench.cu && bench_v3=1
sanitize_v3=0
awk '/^int sanitize_case\(/,/^}/' bench/gpu/emd_gpu_bench.cu | grep -q 'V3' && sanitize_v3=1
tests_v3=0
grep -qa 'v3_random_shapes' "$tests" 2>/dev/null && tests_v3=1
impls=floor,v2
((bench_v3)) && impls=floor,v2,v3 || note "emd_gpu_bench has no v3 implementation yet: end-to-end rows are floor,v2 only"
((tests_v3)) || note "test_emd_cuda has no v3 cases yet (v3_random_shapes absent): it runs v1/v2 cases only"

# test_emd_cuda's golden case reads fixtures from the absolute path of the checkout that built it: link it here.
fixtures=$(grep -aoE '/[^[:cntrl:]"]*/src/test/resources/fixtures' "$tests" 2>/dev/null | head -1)
golden_ok=1
if [[ -n $fixtures && ! -e $fixtures/emd/cases.safetensors ]]; then
  if [[ $dry == 1 ]]; then
    echo "  [dry] would link $fixtures -> $root/src/test/resources/fixtures (absent here? $([[ -e $fixtures ]] && echo no || echo yes))"
  elif mkdir -p "$(dirname "$fixtures")" 2>/dev/null && ln -sfn "$root/src/test/resources/fixtures" "$fixtures"; then
    echo "  linked $fixtures -> $root/src/test/resources/fixtures (test_emd_cuda's golden case)"
  else
    golden_ok=0
    note "cannot create $fixtures: test_emd_cuda runs without its golden case"
  fi
fi

facts() {
  local rc=0
  nvidia-smi --query-gpu=name,compute_cap,memory.total,clocks.max.sm,driver_version --format=csv | tee "$OUT/gpu.csv"
  ((PIPESTATUS[0] == 0)) || rc=1
  nvidia-smi -q > "$OUT/nvidia-smi.txt" 2>&1
  LD_LIBRARY_PATH=$py_ld python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" || true
  (command -v compute-sanitizer || ls /usr/local/cuda/compute-sanitizer/compute-sanitizer) 2>/dev/null || echo 'no compute-sanitizer'
  grep -h PRETTY_NAME /etc/os-release; ldd --version | head -1; uname -r; nproc
  return $rc
}
# Do the binaries built on the other machine load here (system libraries, glibc symbol versions)?
loads() {
  local bad=0 f
  for f in "$stage/libtasft.so" "$gemm" "$bench" "$tests"; do
    [[ -f $f ]] || continue
    if ldd "$f" 2>&1 | grep -E 'not found|version .* not found'; then
      echo "CANNOT LOAD: $f"
      bad=1
    fi
  done
  ((bad == 0)) && echo "all carried binaries resolve their libraries here"
  return $bad
}
export -f facts loads
export OUT py_ld stage gemm bench tests
step "machine facts (nvidia-smi, PyTorch, OS, compute-sanitizer)" 30 bash -c facts
step "carried binaries load here (ldd)" 15 bash -c loads
if [[ $dry != 1 ]] && ! loads >/dev/null 2>&1; then
  if [[ ${TASFT_V3_BUILD:-0} == 1 ]]; then
    step "fallback: build here for sm_90a (TASFT_V3_BUILD=1; bench/gpu/prepare-v3-window.sh)" 300 \
      bash bench/gpu/prepare-v3-window.sh
  else
    note "the carried binaries do not load on this machine: rerun as TASFT_V3_BUILD=1 bash bench/gpu/v3-window.sh (builds here first, ~2-4 min of the budget; raise TASFT_V3_BUDGET_S)"
  fi
fi

# ---- S1: the two main loops as GEMMs, against cublasGemmEx in the same process.
if [[ -f $gemm ]]; then
  step "S1 k1 forward GEMM (v3_gemm_bench, M=8192 N=4096 K=32000/128256)" 90 \
    "$gemm" --ops k1 --shapes "8192,4096,32000;8192,4096,128256" --iters "$iters" --warmup "$warmup" --out "$OUT/s1-k1.tsv"
  step "S1 k3 backward GEMM (v3_gemm_bench, M=8192 N=32000/128256 K=4096)" 90 \
    "$gemm" --ops k3 --shapes "$shape32;$shape128" --iters "$iters" --warmup "$warmup" --out "$OUT/s1-k3.tsv"
fi
s1_table() {
  echo "| op | M | N | K | v3 ms | cuBLAS ms | v3/cuBLAS speed | check | gate >= 0.85 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
  cat "$OUT"/s1-k1.tsv "$OUT"/s1-k3.tsv 2>/dev/null | awk -F'\t' '
    $1 == "op" { next }
    { g = ($7 + 0 >= 0.85 && $10 == "ok") ? "pass" : "FAIL"; n++; if (g == "pass") p++; if (min == "" || $7 + 0 < min) min = $7 + 0
      printf "| %s | %s | %s | %s | %s | %s | %.3f | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $10, g }
    END { if (n == 0) print "\nS1 gate: NO RESULT (no rows)"
          else if (p == n && n == 4) printf "\nS1 gate: PASS (all 4 GEMMs agree with cuBLAS at >= 0.85 of its speed; slowest %.3f)\n", min
          else printf "\nS1 gate: NOT MET (%d of %d rows pass, 4 expected; slowest %.3f of cuBLAS%s)\n", p, n, min,
                      (min < 0.70 ? ": below 0.70, the cuBLASLt fallback route is in play" : "") }'
}

# ---- correctness of the loss kernels, then the sanitizer on small v3 cases.
if ((golden_ok)); then
  step "test_emd_cuda (all cases: v1, v2, v3, auto)" 90 "$tests"
else
  step "test_emd_cuda (all cases but golden: fixtures unreachable)" 90 bash -c \
    "rc=0; for t in \$(awk '/set\\(CUDA_TESTS/,/\\)/' native/tests/CMakeLists.txt | tr -d '()' | tr ' ' '\\n' |
       grep -vE '^(setCUDA_TESTS|golden|)\$'); do '$tests' \$t || rc=1; done; exit \$rc"
fi
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null || true)
# memcheck CMD...: compute-sanitizer's memcheck; exit 77 (UNSUPPORTED) when it refuses the device (gVisor machines).
memcheck() {
  local log
  log=$(mktemp)
  "$sanitizer" --tool memcheck --error-exitcode 9 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  grep -q "Device not supported" "$log" && rc=77
  rm -f "$log"
  return $rc
}
export -f memcheck
export sanitizer
if [[ -n $sanitizer || $dry == 1 ]]; then
  sanitizer=${sanitizer:-compute-sanitizer}
  [[ -f $gemm ]] && step "memcheck: v3_gemm_bench k1+k3 at small shapes with tails (200x264x328, 64x8x16)" 60 \
    bash -c 'memcheck "$@"' memcheck "$gemm" --shapes "200,264,328;64,8,16" --iters 1 --warmup 0
  ((tests_v3)) && step "memcheck: test_emd_cuda v3_random_shapes" 60 \
    bash -c 'memcheck "$@"' memcheck "$tests" v3_random_shapes
  # TODO(issue 11): emd_gpu_bench's sanitize case runs v1 and v2 only; once it runs v3 too (Impl::V3 in
  # sanitize_case), this step runs by itself.
  if ((sanitize_v3)); then
    step "memcheck: emd_gpu_bench --sanitize (small cases of every version, v3 included)" 90 \
      bash -c 'memcheck "$@"' memcheck "$bench" --sanitize
  else
    note "TODO skipped: memcheck of emd_gpu_bench --sanitize with v3 (its sanitize case has no v3 yet)"
  fi
else
  note "MISSING compute-sanitizer: memcheck steps skipped"
fi

# ---- first end-to-end look: the fused loss (forward + backward, gradient in place) against the floor, per shape.
tsv=$OUT/bench.tsv
step "emd_gpu_bench $impls at N=8192 V=32000 D=4096" 90 \
  "$bench" --shapes "$shape32" --impls "$impls" --skip "" --iters "$iters" --warmup "$warmup" --out "$tsv"
step "emd_gpu_bench $impls at N=8192 V=128256 D=4096" 120 \
  "$bench" --shapes "$shape128" --impls "$impls" --skip "" --iters "$iters" --warmup "$warmup" --out "$tsv"
[[ ${TASFT_V3_TORCH:-1} == 1 ]] && step "PyTorch anchors (eager, torch.compile, cuBLAS floor) at both shapes" 180 \
  env LD_LIBRARY_PATH="$py_ld" PYTHONUNBUFFERED=1 python3 bench/gpu/torch_anchor.py --shapes "$shape32;$shape128" --iters "$iters" --warmup "$warmup" --out "$tsv"

if [[ $dry == 1 ]]; then
  echo
  echo "=== DRY RUN: $nstep steps, their limits add up to ${planned}s; the budget (${budget}s) caps the run;" \
       "carried files $([[ $missing == 0 ]] && echo 'all present' || echo 'MISSING (see above)')"
  for line in "${summary[@]}"; do [[ $line == dry* ]] || echo "  $line"; done
  exit $missing
fi

echo
echo "=== S1 ($OUT/s1.md)"
s1_table | tee "$OUT/s1.md"
echo
echo "=== end-to-end table ($OUT/table.md)"
if [[ -s $tsv ]]; then
  LD_LIBRARY_PATH=$py_ld python3 bench/gpu/make_table.py "$tsv" | tee "$OUT/table.md"
else
  echo "no timing rows"
fi
echo
echo "=== summary ($(($(date +%s) - t0)) s of ${budget}s, results in $OUT)"
for line in "${summary[@]}"; do echo "  $line"; done
grep -h "S1 gate" "$OUT/s1.md" | sed 's/^/  /'
exit $failed
