#!/usr/bin/env bash
# The one-GPU figures (benchmarks/gpu.py): extraction frames/s per backbone and decoder, the eight-head
# study in three precisions, CNN-RNN seconds per epoch, peak GPU memory; a Markdown table on stdout
# (and in --out FILE). `benchmarks/gpu.sh --smoke` runs it at toy size on a CPU (the test suite does).
#
#   benchmarks/gpu.sh --prepare       here, once: the wheels a bare GPU machine lacks, into .whl/
#   benchmarks/gpu.sh [--out F.md]    on the GPU machine (docs/benchmarks.md: the one command)
#
# With the project's environment (uv sync) it runs through `uv run`; on a machine whose python3 has
# torch, Lightning and timm but not the project (the lent GPU machines), the wheels in .whl/ are
# installed into /tmp/site first and the script runs with that python3.
set -euo pipefail
cd "$(dirname "$0")/.."
# Wheels for Python 3.12 on x86-64 Linux: what the GPU image lacks of the project's imports.
# Versions as in uv.lock; antlr4-python3-runtime 4.9.3 (omegaconf's) is a source release, built here.
WHEELS=(hydra-core==1.3.8 omegaconf==2.3.1 av==18.1.0)
if [ "${1:-}" = "--prepare" ]; then
    rm -rf .whl && mkdir -p .whl
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> "$(git rev-parse --git-common-dir)/info/exclude"
    for w in "${WHEELS[@]}"; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            --platform any -d .whl "$w"
    done
    python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
    du -sh .whl
    exit 0
fi
if [ -d .venv ] && command -v uv >/dev/null 2>&1; then
    exec env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" uv run python benchmarks/gpu.py "$@"
fi
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# The project is not installed there: DataLoader workers (forkserver) import it from the checkout.
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
exec python3 benchmarks/gpu.py "$@"
