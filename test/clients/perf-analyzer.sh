#!/usr/bin/env bash
# Installs, once, Triton's perf_analyzer from test/clients/perf-analyzer-requirements.txt (why that
# version, and what else it needs, is written there) and prints the directory: $CDK8S_GPU_INFERENCE_CACHE,
# else ~/.cache/cdk8s-gpu-inference, /perf-analyzer-<the first 16 hex digits of the file's sha256>;
# a warm one is reused as is. test/clients/perf-analyzer.ts computes the same path and runs
# bin/perf_analyzer with the CUDA runtime library the wheels install. Needs Debian's python3-venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
requirements=$root/test/clients/perf-analyzer-requirements.txt
cache=${CDK8S_GPU_INFERENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-gpu-inference}
dir=$cache/perf-analyzer-$(sha256sum "$requirements" | cut -c1-16)
if [ ! -x "$dir/bin/perf_analyzer" ]; then
  # Built beside it and renamed when complete: an interrupted install leaves nothing half done.
  # --no-deps: only the binary and the library are used, not tritonclient's Python modules.
  rm -rf "$dir.partial"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "$dir.partial"
  "$dir.partial/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: --no-deps --require-hashes -r "$requirements"
  mv "$dir.partial" "$dir"
fi
echo "$dir"
