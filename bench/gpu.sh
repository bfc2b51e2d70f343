#!/usr/bin/env bash
# The GPU checks of issue 4, as one prepared script for a lent GPU machine (at most 8 minutes).
# Needs only torch, numpy and scipy (the device image has no Ray or MLflow); prints one table and writes
# it under $OUT when set. On a CPU-only machine: bench/gpu.sh --tiny (seconds; the test suite does this).
#   (1) run_trial's training loop vs a minimal hand-written loop, FCN4-2048, data resident on the GPU
#   (2) 8 FCN3-256 trials as 4 concurrent processes on the one GPU vs one at a time
#   (3) tails + compression curves of the 10M-weight model, GPU vs CPU
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PY=python3
[ -x .venv/bin/python ] && [ -z "${TAILSWEEP_SYSTEM_PYTHON:-}" ] && PY=.venv/bin/python
exec timeout 480 "$PY" bench/gpu_bench.py "$@"
