#!/usr/bin/env bash
# The GPU run of issue 12, on a machine with an NVIDIA GPU (H100/H200), CUDA 13 and Python 3 + PyTorch 2.11 +
# transformers + peft, but no Java: what bench/gpu/prepare-train-jvm.sh put in .jre/gpu-train/ (carried along) runs
# the trainer's step there.
#   0. unpack the runtime and the JNI libraries; find PyTorch's libtorch (route A) or reassemble the carried 2.10
#      libraries (route B, when .jre/gpu-train-parts/p*/ were carried over earlier calls)
#   1. smoke: load LibTorch from Java under LD_BIND_NOW=1 (every symbol of the 2.10 JNI resolved against the libtorch
#      in use, at load: a missing one fails here, in seconds, naming the symbol) and list the GPU
#   2. correctness: the tiny fixture's logits and one TA-SFT step's gradients on cuda:0 vs the CPU (float32, tight),
#      the EMD gradient from the CUDA kernel (GpuTrainCheck correctness)
#   3. speed and memory: Llama-3.1-8B-shaped model, random bf16 weights made on the device, LoRA r=16 on q,k,v,o,
#      sequence 1024, batch 8 with 2 harmful, activation checkpointing: tasft (GpuTrainCheck speed), then the same
#      step in PyTorch + transformers + peft (train_anchor.py, sdpa attention and eager), each with its process's peak
#      GPU memory sampled by nvidia-smi
#   4. $OUT/table.md: tokens/s and peak memory side by side, the ratio to PyTorch's
# Every step has a time limit (the whole run fits one 10-minute device call); a failed step does not stop the others.
# Usage (device tool; carry [".jre/gpu-train"], plus one ".jre/gpu-train-parts/pNN" per earlier call for route B):
#   bash bench/gpu/train-gpu.sh                    # everything
#   TASFT_ROUTE=A|B (default: B when the parts are all there, else A)
#   DRY_RUN=1 bash bench/gpu/train-gpu.sh          # where there is no GPU: prints what it would run, checks inputs
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OUT=${OUT:-$root/bench/gpu/results/train-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
budget=${TASFT_GPU_BUDGET_S:-560}
t0=$(date +%s)
dry=${DRY_RUN:-0}
declare -a summary=()
failed=0
step() { # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local left=$((budget - ($(date +%s) - t0) - 10))
  ((limit > left)) && limit=$left
  if ((limit < 5)); then summary+=("SKIPPED (no time left)  $name"); return; fi
  echo; echo "=== $name (limit ${limit}s, at $(($(date +%s) - t0))s)"
  if [[ $dry == 1 ]]; then echo "DRY RUN: timeout $limit $*"; summary+=("dry  $name"); return; fi
  local s=$(date +%s)
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  if ((rc == 0)); then summary+=("ok ($(($(date +%s) - s)) s)  $name"); else
    [[ $rc == 124 || $rc == 137 ]] && summary+=("TIMED OUT  $name") || summary+=("FAILED rc=$rc  $name"); failed=1; fi
}

carry=.jre/gpu-train
for f in jdk.tgz natives.tar.xz lib/tasft-0.1.0-SNAPSHOT.jar lib/tasft-gpu-check.jar llama-3.1-8b-config.json; do
  [[ -f $carry/$f ]] || { echo "train-gpu.sh: $carry/$f missing: run bench/gpu/prepare-train-jvm.sh and carry $carry"; exit 2; }
done
rt=$(mktemp -d /tmp/tasft-train.XXXX)
tar -C "$rt" -xzf "$carry/jdk.tgz"
mkdir -p "$rt/natives"
tar -C "$rt/natives" -xJf "$carry/natives.tar.xz"
java=$rt/jdk/bin/java

# Route B: the 2.10 CUDA libraries, reassembled from the parts the earlier calls carried
parts=.jre/gpu-train-parts
route=${TASFT_ROUTE:-}
if [[ -z $route ]]; then
  if [[ -f $carry/parts.sha256 ]] && (cd "$parts" 2>/dev/null && sha256sum --quiet -c "../gpu-train/parts.sha256"); then
    route=B
  else
    route=A
  fi
fi
if [[ $route == B ]]; then
  cat "$parts"/p*/libtorch.tar.xz.part | xz -d | tar -C "$rt/natives" -xf - || { echo "route B: reassembly failed"; exit 2; }
  libpath=""
else
  # Route A: PyTorch 2.11's own libtorch and the CUDA 13 / cuDNN / NCCL libraries of its wheels
  torch_lib=$(python3 -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))" 2>/dev/null)
  nvidia_libs=$(python3 -c "import nvidia, os, glob; print(':'.join(glob.glob(os.path.join(os.path.dirname(nvidia.__path__[0]), 'nvidia', '*', 'lib'))))" 2>/dev/null)
  libpath=$torch_lib${nvidia_libs:+:$nvidia_libs}
  # JavaCPP preloads libtorch's names from the class path first: put PyTorch's in the 2.10 GPU jar's place
  if [[ -n $torch_lib ]]; then
    mkdir -p "$rt/natives/org/bytedeco/pytorch/linux-x86_64-gpu"
    for so in libc10.so libc10_cuda.so libtorch_cpu.so libtorch_cuda.so libtorch.so libtorch_cuda_linalg.so; do
      [[ -f $torch_lib/$so ]] && ln -sf "$torch_lib/$so" "$rt/natives/org/bytedeco/pytorch/linux-x86_64-gpu/$so"
    done
  fi
fi
export LD_LIBRARY_PATH=${libpath:+$libpath:}/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OPENBLAS_NUM_THREADS=1
cp="$rt/natives:$(ls "$carry"/lib/*.jar | tr '\n' ':')"
jvm=("$java" -Xmx16g -Dorg.bytedeco.javacpp.cachedir="$rt/cache" -Dorg.bytedeco.javacpp.pathsFirst=true
     -Dorg.bytedeco.javacpp.maxBytes=0 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0
     -Djava.library.path="${libpath:-$rt/natives}" -cp "$cp")
echo "=== machine, route $route"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null | tee "$OUT/gpu.csv"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" 2>&1 | tee "$OUT/python.txt"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# peak GPU memory of the process a step runs: nvidia-smi every 100 ms, the maximum in MiB
sampled() { # sampled NAME COMMAND...: runs the command, writes $OUT/NAME.peak_mib
  local name=$1
  shift
  ( while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; sleep 0.1; done ) \
    > "$OUT/$name.mem" 2>/dev/null &
  local sampler=$!
  "$@"
  local rc=$?
  kill "$sampler" 2>/dev/null
  sort -n "$OUT/$name.mem" | tail -1 > "$OUT/$name.peak_mib"
  return $rc
}
export -f sampled
export OUT

step "smoke: LibTorch from Java under LD_BIND_NOW=1 (route $route)" 60 \
  env LD_BIND_NOW=1 "${jvm[@]}" org.tasft.bench.GpuTrainCheck correctness src/test/resources/fixtures/tiny-llama cpu
step "correctness: tiny-llama logits and one TA-SFT step, cuda:0 vs CPU, float32" 90 \
  "${jvm[@]}" org.tasft.bench.GpuTrainCheck correctness src/test/resources/fixtures/tiny-llama cuda:0
step "plan: the 8B LoRA step" 30 \
  "${jvm[@]}" org.tasft.cli.Main train --model bench/gpu/llama-3.1-8b --plan --dtype bfloat16 --lora-rank 16 \
  --lora-targets q_proj,k_proj,v_proj,o_proj --batch-size 8 --max-length 1024 --gradient-checkpointing \
  --device-memory "$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1)MiB"
step "speed: tasft, 8B-shaped LoRA r=16 q,k,v,o, 8 x 1024 (2 harmful), bf16, checkpointing" 240 \
  bash -c "sampled tasft $(printf '%q ' "${jvm[@]}") org.tasft.bench.GpuTrainCheck speed bench/gpu/llama-3.1-8b cuda:0 bfloat16 8 1024 2 16 5 true | tee \$OUT/tasft.txt"
step "speed: PyTorch + transformers + peft (sdpa), same step" 150 \
  bash -c "sampled pytorch-sdpa python3 bench/gpu/train_anchor.py --attn sdpa --steps 5 | tee \$OUT/pytorch-sdpa.txt"
step "speed: PyTorch + transformers + peft (eager attention, as tasft's), same step" 150 \
  bash -c "sampled pytorch-eager python3 bench/gpu/train_anchor.py --attn eager --steps 5 | tee \$OUT/pytorch-eager.txt"

# the table
{
  echo "| implementation | tokens/s | step s | peak GPU MiB (nvidia-smi) | tokens/s vs PyTorch sdpa |"
  echo "|---|---|---|---|---|"
  ref=$(grep -o 'tokens_per_s=[0-9.]*' "$OUT/pytorch-sdpa.txt" 2>/dev/null | cut -d= -f2)
  for n in tasft pytorch-sdpa pytorch-eager; do
    line=$(grep '^speed' "$OUT/$n.txt" 2>/dev/null | tail -1)
    tps=$(grep -o 'tokens_per_s=[0-9.]*' <<<"$line" | cut -d= -f2)
    sec=$(grep -o 'step_s=[0-9.]*' <<<"$line" | cut -d= -f2)
    mem=$(cat "$OUT/$n.peak_mib" 2>/dev/null)
    ratio=$([[ -n $tps && -n $ref ]] && python3 -c "print(f'{$tps/$ref:.2f}x')" || echo -)
    echo "| $n | ${tps:--} | ${sec:--} | ${mem:--} | $ratio |"
  done
} > "$OUT/table.md"
echo; echo "=== summary"; printf '%s\n' "${summary[@]}"
echo; cat "$OUT/table.md"
rm -rf "$rt"
exit $failed
