#!/usr/bin/env bash
# Training samples/s of the default preset (15.6M) on one CUDA GPU, for a session that is lent one.
# Not run here (no GPU): no GPU figure is on record until this has run.
#
#   PYTHON=.venv/bin/python OUT=runs/bench-gpu bash benchmarks/train_gpu.sh
#
# 1. the model step (benchmarks/train_throughput.py: fp32, --amp, --amp --fused-optimizer,
#    and the three with --compile), batch 256 and 1024, pre-built batches;
# 2. `nsca train --device cuda --amp --fused-optimizer --compile` end to end for 300 steps on the
#    synthetic set (proves the CUDA AMP path; its samples/s includes synthesising the items on
#    the CPU workers, so it is a floor, not the GPU's speed);
# 3. the gpu-marked test (tests/test_train_precision.py::test_cuda_amp_run).
# About 6-8 minutes on an H100-class GPU, most of it compiling. Everything lands in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-runs/bench-gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(), 'bf16', torch.cuda.is_bf16_supported())" | tee -a "$OUT/gpu.txt"

for bs in 256 1024; do
  timeout 240 "$PY" benchmarks/train_throughput.py --device cuda --presets default --batch-size "$bs" --threads 4 \
    --omp-policies default --variants fp32 amp amp-fused compile --steps 20 --warmup 3 --reps 3 \
    --json "$OUT/throughput_b$bs.json" | tee "$OUT/throughput_b$bs.txt"
done

timeout 300 "$PY" -m nsca.cli train --preset default --data-source synthetic --synthetic-size 80000 --batch-size 256 \
  --max-steps 300 --device cuda --amp --fused-optimizer --compile --num-workers 8 --log-every 25 \
  --checkpoint-every 1000 --no-progress --run-dir "$OUT" --run-name e2e-default-amp 2>&1 | tail -3 | tee "$OUT/e2e.txt"
cp "$OUT/e2e-default-amp/summary.json" "$OUT/e2e_summary.json"

timeout 120 "$PY" -m pytest -q -m gpu tests/test_train_precision.py 2>&1 | tail -3 | tee "$OUT/gpu_test.txt"
