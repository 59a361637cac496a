#!/usr/bin/env bash
# Every GPU check of this repo in one go: the `gpu` tests (NQKV kernels; the in-process engine,
# AR-Sampling and the checkpoint PRMs on CUDA), the agentic-RL training throughput, then the NQKV
# kernel benchmark.
#
#   bash benchmarks/run_gpu.sh            # results in benchmarks/results/, logs in a temp dir
#   OUT=dir bash benchmarks/run_gpu.sh    # everything in dir
#   QUICK=1 bash benchmarks/run_gpu.sh    # smoke run of the NQKV benchmark
#   TESTS_LIMIT=120 THROUGHPUT_LIMIT=200 KERNELS_LIMIT=300 bash benchmarks/run_gpu.sh
#                                         # seconds each step may run (default: no limit)
#
# The kernel tests and benchmark need only python3 with torch (CUDA) + triton >= 3.4 + pytest, and
# this repo (no install: the repo root goes on PYTHONPATH). The engine tests also need
# transformers, sympy and xgrammar, and the real tokenizer of the converted embedded checkpoint
# under $HUIJIN_CACHE_DIR/models/ (no weights: the tests build a random model of its shape). The
# throughput step runs benchmarks/agentic_rl.py, which imports the app's packages (`pip install
# -e .`, or at least pydantic, pydantic-settings, SQLAlchemy, alembic, httpx2 beside transformers,
# peft, accelerate). SKIP_THROUGHPUT=1 / SKIP_KERNELS=1 leave out that step. Writes gpu_tests.log,
# gpu_tests.xml, gpu_tests.{json,md} (which tests passed on which device), throughput.log,
# agentic_rl_throughput.{json,md}, benchmark.log and nqkv_kernels.{json,md}. Exits non-zero when
# a step fails.
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

# --confcutdir: only the conftests under tests/model (the repo-wide one needs the app's
# dependencies).
timeout "${TESTS_LIMIT:-0}" "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider -rA \
    --confcutdir=tests/model --junitxml="$LOGS/gpu_tests.xml" tests/model/nqkv/kernels \
    tests/model/engine/test_cuda.py tests/model/reasoning/test_cuda.py 2>&1 \
    | tee -a "$LOGS/gpu_tests.log"
tests_status=${PIPESTATUS[0]}
"$PYTHON" benchmarks/gpu_tests_report.py "$LOGS/gpu_tests.xml" "$LOGS/gpu_tests.log" \
    --out "$RESULTS" || tests_status=1

throughput_status=0
if [[ -z "${SKIP_THROUGHPUT:-}" ]]; then
    timeout "${THROUGHPUT_LIMIT:-0}" "$PYTHON" benchmarks/agentic_rl.py --gpu-throughput \
        --threads 8 2>&1 | tee "$LOGS/throughput.log"
    throughput_status=${PIPESTATUS[0]}
    if [[ "$RESULTS" != benchmarks/results ]]; then
        cp benchmarks/results/agentic_rl_throughput.* "$RESULTS"/ 2>/dev/null
    fi
fi

bench_status=0
if [[ -z "${SKIP_KERNELS:-}" ]]; then
    timeout "${KERNELS_LIMIT:-0}" "$PYTHON" benchmarks/nqkv_kernels.py --out "$RESULTS" \
        ${QUICK:+--quick} 2>&1 | tee "$LOGS/benchmark.log"
    bench_status=${PIPESTATUS[0]}
fi

echo "exit codes: gpu tests ${tests_status}, throughput ${throughput_status}," \
    "kernel benchmark ${bench_status}; results in $RESULTS, logs in $LOGS"
exit $(( tests_status || throughput_status || bench_status ))
