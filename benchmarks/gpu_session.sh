#!/usr/bin/env bash
# The GPU checks of one lent GPU session, in one call (see benchmarks/results/README.md).
#
#   bash benchmarks/gpu_session.sh STAGE...
#
# Stages: tests unet chasm digits mnist adbench oneclass. A stage written NAME& runs in the
# background beside the next ones (its timings then share the machine; say so).
#
# Runs from the repository root on a machine with CUDA, PyTorch and scikit-learn but
# perhaps without skorch: wheels in .whl/ are installed to /tmp/site first. Results go to
# benchmarks/results/ and, where $OUT is set, are copied there. BENCHMARK_COMMIT names the
# commit of a copied tree that has no .git folder.
set -uo pipefail
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, sklearn, skorch; print('torch', torch.__version__, 'sklearn', sklearn.__version__, 'skorch', skorch.__version__)"
out=${OUT:-}
save() { [ -n "$out" ] && cp "$@" "$out"/ ; }
run_stage() {
    local stage=$1
    echo "=== $stage $(date -u +%T)"
    case $stage in
    tests)  # the whole suite, every estimator on CUDA
        timeout "${TESTS_TIMEOUT:-300}" python3 -m pytest -q -rfE --tb=long --device cuda \
            -n "${TESTS_WORKERS:-8}" > /tmp/pytest_cuda.log 2>&1
        tail -25 /tmp/pytest_cuda.log; save /tmp/pytest_cuda.log ;;
    unet)   # the paper's CIFAR-size U-Net: training step, forward, denoiser, likelihood
        (cd benchmarks && timeout 200 python3 unet_step.py --name unet_step_cuda) \
            && save benchmarks/results/unet_step_cuda.* ;;
    chasm)  # the GPU row of the 10-D density chasm (one family, CDM and TRE)
        (cd benchmarks && timeout 300 python3 density_chasm.py --families gaussian_mixture \
            --dims 10 --methods CDM TRE --name density_chasm_10d_cuda) \
            && save benchmarks/results/density_chasm_10d_cuda.* ;;
    digits) # digits with the image defaults, on CUDA
        (cd benchmarks && timeout 300 python3 digits.py --methods cdm_image cdm_mlp \
            --name digits_cuda 2>&1 | grep -v "it/s\|epoch/s\|step/s") \
            && save benchmarks/results/digits_cuda* ;;
    mnist)  # MNIST, all 60,000 training digits, bf16 training; the data travel in .gpu_data/
        (cd benchmarks && timeout 400 python3 mnist.py --data "${MNIST:-../.gpu_data/mnist.npz}" \
            --device cuda --steps 3000 --batch-size 256 --known-density-steps 500 \
            --name mnist_cuda 2>&1 | grep -v "it/s\|epoch/s\|step/s") \
            && save benchmarks/results/mnist_cuda* ;;
    adbench) # the CDM detector on CUDA, both protocols, 3 seeds; the data travel in .gpu_data/
        (cd benchmarks && timeout "${ADBENCH_TIMEOUT:-300}" python3 adbench.py \
            --data "${ADBENCH:-../.gpu_data/adbench}" --methods cdm --device cuda \
            --jobs "${ADBENCH_JOBS:-8}" --name adbench_cuda > /tmp/adbench_cuda.log 2>&1; \
            tail -50 /tmp/adbench_cuda.log) ; save /tmp/adbench_cuda.log \
            benchmarks/results/adbench_cuda.* ;;
    oneclass) # one-class MNIST on CUDA: all training images of each digit, MLP and image CDMs
        (cd benchmarks && timeout "${ONECLASS_TIMEOUT:-300}" python3 mnist_one_class.py \
            --data "${MNIST:-../.gpu_data/mnist.npz}" --n-train 0 --device cuda \
            --methods cdm cdm_image knn iforest --jobs 4 --name mnist_one_class_cuda \
            > /tmp/oneclass_cuda.log 2>&1; tail -20 /tmp/oneclass_cuda.log); \
            save /tmp/oneclass_cuda.log benchmarks/results/mnist_one_class_cuda.* ;;
    *) echo "unknown stage $stage" ;;
    esac
    echo "=== $stage finished $(date -u +%T)"
}
for stage in "$@"; do
    if [[ $stage == *"&" ]]; then
        run_stage "${stage%&}" > "/tmp/stage_${stage%&}.log" 2>&1 &
    else
        run_stage "$stage"
    fi
done
wait
for log in /tmp/stage_*.log; do [ -e "$log" ] && { cat "$log"; save "$log"; }; done
echo "=== done $(date -u +%T)"
