#!/usr/bin/env bash
# Full-size Muse on a CUDA GPU: builds the muse-632m set (T5-XXL encoder, fp16 files) once, then runs the split
# pipeline (every stage its own process, gRPC on loopback) with the CUDA execution provider at
#   256 px: base only, 24 steps (the paper's base setting; the sr stage is run with 1 step, reported separately), and
#   512 px: base 24 steps + sr 8 steps (the paper's full setting),
# and the in-process run for the utilisation figures. Each result is one JSON file under $OUT (default ./gpu-bench).
# Needs a build with the GPU package (the default; not -p:OnnxRuntimeGpu=false), CUDA 12 + cuDNN 9 on the path.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MODELS="${MODELS:-$ROOT/../fullsize-models-gpu}"
OUT="${OUT:-$PWD/gpu-bench}"
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
dotnet build "$ROOT/orchestrator/Muse.Cli" -c Release -nologo -v q -clp:ErrorsOnly
MUSE=(dotnet "$ROOT/artifacts/bin/Muse.Cli/release/muse.dll")

if [[ ! -f "$MODELS/pipelines.json" ]]; then
  "${MUSE[@]}" models build-random muse-632m --out "$MODELS/repository" --text-encoder t5-xxl --dtype fp16
fi

# Every stage process prefers CUDA, then CPU; a fallback is logged once per process ("not available on this machine").
export Muse__Inference__Providers__0=Cuda
export Muse__Inference__Providers__1=Cpu

bench() { # name, then bench arguments
  local name="$1"; shift
  uptime | tee "$OUT/$name.uptime"
  "${MUSE[@]}" bench --repository "$MODELS/repository" --pipeline muse-632m --requests 3 --warmup 1 --json "$@" > "$OUT/$name.json"
  uptime | tee -a "$OUT/$name.uptime"
}

bench split-256px --mode split --steps 24 --sr-steps 1 --intra-op-threads 0
bench split-512px --mode split --steps 24 --sr-steps 8 --intra-op-threads 0
bench in-process-512px --mode in-process --steps 24 --sr-steps 8
echo "results in $OUT"
