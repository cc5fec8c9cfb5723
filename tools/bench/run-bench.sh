#!/usr/bin/env bash
# Benchmark the full-size models: builds random-weight checkpoints with exactly the released
# encodec_24khz / encodec_48khz shapes and the 24 kHz LM's (tests/data/shapes-*.json), converts
# them (float32 and float16), and runs encodec-bench on them; where Debian's python3-torch is
# installed, also a PyTorch implementation of the 24 kHz model on the same checkpoint
# (bench-pytorch), in the same run. Usage: tools/bench/run-bench.sh [BUILD_DIR] [encodec-bench options]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
shift || true
models=$build/bench-models
mkdir -p "$models"
for kind in 24khz 48khz; do
  st=$models/encodec_$kind.safetensors
  half=$models/encodec_${kind}_f16.safetensors # the same weights stored as float16
  if [ ! -f "$st" ] || [ ! -f "$half" ] || { [ "$kind" = 24khz ] && [ ! -f "$models/encodec_$kind.th" ]; }; then
    python3 "$src/tools/make-random-checkpoint" --seed 1 "$src/tests/data/shapes-encodec_$kind.json" "$models/encodec_$kind.th"
    python3 "$src/tools/encodec-convert" "$models/encodec_$kind.th" "$st"
    python3 "$src/tools/encodec-convert" --f16 "$models/encodec_$kind.th" "$half"
  fi
  [ "$kind" = 24khz ] || rm -f "$models/encodec_$kind.th" # the 24 kHz one serves PyTorch
done
lm=$models/encodec_24khz_lm.safetensors
lm_half=$models/encodec_24khz_lm_f16.safetensors
if [ ! -f "$lm" ] || [ ! -f "$lm_half" ]; then
  python3 "$src/tools/make-random-checkpoint" --seed 1 "$src/tests/data/shapes-lm_24khz.json" "$models/lm.th"
  python3 "$src/tools/encodec-convert" "$models/lm.th" "$lm"
  python3 "$src/tools/encodec-convert" --f16 "$models/lm.th" "$lm_half"
  rm -f "$models/lm.th"
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
"$build/tools/bench/encodec-bench" "$models/encodec_24khz.safetensors" --lm "$lm" "$@"
echo "float16 weights (codec and LM):"
"$build/tools/bench/encodec-bench" "$models/encodec_24khz_f16.safetensors" --lm "$lm_half" "$@"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch_args=() # the options bench-pytorch shares with encodec-bench
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in -s|-r|-b|-t) torch_args+=("${args[i]}" "${args[i + 1]:-}"); i=$((i + 1)) ;; esac
  done
  /usr/bin/python3 "$src/tools/bench/bench-pytorch" "$models/encodec_24khz.th" "${torch_args[@]}"
else
  echo "(no python3-torch: PyTorch baseline skipped)"
fi
"$build/tools/bench/encodec-bench" "$models/encodec_48khz.safetensors" -b 6 "$@"
echo "float16 weights:"
"$build/tools/bench/encodec-bench" "$models/encodec_48khz_f16.safetensors" -b 6 "$@"
