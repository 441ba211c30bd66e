#!/usr/bin/env bash
# Print the `make` variables for AlexeyAB's darknet Makefile that suit this machine, one per
# line (KEY=VALUE): GPU/CUDNN when nvcc, a visible NVIDIA GPU and cuDNN are present (ARCH for
# that GPU's compute capability, CUDNN_HALF from 7.0 on), OPENCV when `pkg-config opencv4`
# works, AVX when the CPU has AVX2, OPENMP when the C compiler accepts -fopenmp.
# Used by scripts/build-darknet.sh (`make darknet`); DARKNET_FLAGS= there replaces all of this.
set -u

nvcc=$(command -v nvcc || true)
if [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
    nvcc=/usr/local/cuda/bin/nvcc
fi
capability=""
if [ -n "$nvcc" ] && command -v nvidia-smi >/dev/null 2>&1; then
    capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')
fi

if [ -n "$capability" ]; then
    echo "GPU=1"
    echo "NVCC=$nvcc"
    echo "ARCH=-gencode arch=compute_${capability},code=[sm_${capability},compute_${capability}]"
    cudnn=0
    for dir in /usr/include /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu \
        /usr/local/cuda/include "${CUDNN_HOME:-/nonexistent}/include"; do
        if [ -f "$dir/cudnn.h" ] || [ -f "$dir/cudnn_version.h" ]; then cudnn=1; fi
    done
    echo "CUDNN=$cudnn"
    if [ "$cudnn" = 1 ] && [ "$capability" -ge 70 ]; then echo "CUDNN_HALF=1"; else echo "CUDNN_HALF=0"; fi
else
    echo "GPU=0"
    echo "CUDNN=0"
    echo "CUDNN_HALF=0"
fi

if pkg-config --exists opencv4 2>/dev/null; then echo "OPENCV=1"; else echo "OPENCV=0"; fi

# AlexeyAB's AVX=1 compiles with -mavx -mavx2: a CPU with AVX but no AVX2 would stop on an
# illegal instruction
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo "AVX=1"; else echo "AVX=0"; fi

if echo 'int main(void){return 0;}' | "${CC:-cc}" -fopenmp -x c - -o /dev/null >/dev/null 2>&1; then
    echo "OPENMP=1"
else
    echo "OPENMP=0"
fi
echo "LIBSO=0"
