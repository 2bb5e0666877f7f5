#!/usr/bin/env bash
# NASWOT on NB201 on this machine's accelerator (or CPU): archs/s with 1 init,
# inits/s with 1,000 inits of one cell in one call, compile counts, peak
# device memory, and the scores of 20 cells checked against the CPU backend
# computed in a second process. Runs as is:
#
#   pip install -e '.[test]' && pip install -U "jax[cuda12]==0.5.3"   # GPU
#   benchmarks/device_check.sh [OUT_DIR]
#
# Smaller or larger runs through the environment, e.g. on a CPU-only box:
#   CELLS=20 MANY_INITS=20 CHANNELS=4 CELLS_PER_STAGE=1 benchmarks/device_check.sh
# (CELLS, MANY_INITS, INIT_CHUNK, CHECK_CELLS, BATCH_SIZE, CHANNELS,
#  CELLS_PER_STAGE, RTOL, PYTHON). Results: OUT_DIR/device.json,
# OUT_DIR/cpu_reference.json; exit status 1 if the scores disagree.
# On GPU/TPU the engine computes the NASWOT kernel with its XLA formulation;
# JAXNAS_NATIVE=0 forces that formulation on CPU too, so a CPU-only run then
# checks it against the native kernel (the reference step always uses the
# CPU's default, the native kernel when it builds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python}"
out="${1:-benchmarks/results/device_check-$(hostname)-$(date +%Y%m%d-%H%M%S)}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
flags=(--out="$out" --cells="${CELLS:-200}" --many_inits="${MANY_INITS:-1000}"
       --check_cells="${CHECK_CELLS:-20}" --batch_size="${BATCH_SIZE:-64}"
       --channels="${CHANNELS:-16}" --cells_per_stage="${CELLS_PER_STAGE:-5}"
       --rtol="${RTOL:-1e-3}")
if [[ -n "${INIT_CHUNK:-}" ]]; then flags+=(--init_chunk="$INIT_CHUNK"); fi

"$py" -c 'import jax; print("jax", jax.__version__, "devices:", jax.devices())'
echo "== on the default backend"
"$py" benchmarks/device_check.py measure "${flags[@]}"
echo "== the first ${CHECK_CELLS:-20} cells on the CPU backend (second process)"
JAX_PLATFORMS=cpu env -u JAXNAS_NATIVE "$py" benchmarks/device_check.py reference \
  "${flags[@]}"
echo "== agreement"
"$py" benchmarks/device_check.py compare "${flags[@]}"
echo "results in $out"
