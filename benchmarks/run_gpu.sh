#!/usr/bin/env bash
# The NQKV kernels' GPU checks in one go: the `gpu` tests, then the benchmark.
#
#   bash benchmarks/run_gpu.sh            # results in benchmarks/results/, logs in a temp dir
#   OUT=dir bash benchmarks/run_gpu.sh    # everything in dir
#   QUICK=1 bash benchmarks/run_gpu.sh    # smoke run of the benchmark
#
# Needs only python3 with torch (CUDA) + triton >= 3.4 + pytest, and this repo (no install: the
# repo root goes on PYTHONPATH). Writes gpu_tests.log, gpu_tests.xml, nqkv_kernels.{json,md} and
# benchmark.log. Exits non-zero when the tests or the benchmark fail.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS="${OUT:-benchmarks/results}"
LOGS="${OUT:-$(mktemp -d)}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$RESULTS" "$LOGS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
unset TRITON_INTERPRET

"$PYTHON" - <<'PY' 2>&1 | tee "$LOGS/gpu_tests.log"
import torch, triton
print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}; "
      f"torch {torch.__version__}, triton {triton.__version__}")
PY

# --confcutdir: only this package's conftest (the repo-wide one needs the app's dependencies).
"$PYTHON" -m pytest -m gpu -q -p no:cacheprovider --confcutdir=tests/model/nqkv/kernels \
    --junitxml="$LOGS/gpu_tests.xml" tests/model/nqkv/kernels 2>&1 | tee -a "$LOGS/gpu_tests.log"
tests_status=${PIPESTATUS[0]}

"$PYTHON" benchmarks/nqkv_kernels.py --out "$RESULTS" ${QUICK:+--quick} 2>&1 | tee "$LOGS/benchmark.log"
bench_status=${PIPESTATUS[0]}

echo "gpu tests exit ${tests_status}, benchmark exit ${bench_status}; results in $RESULTS, logs in $LOGS"
exit $(( tests_status || bench_status ))
