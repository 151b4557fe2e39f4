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
if [ ! -f "$dir/.complete" ]; then
  # Built in place (a venv's scripts name its path, so it cannot be renamed) and marked complete
  # last: an interrupted install is removed and redone on the next run.
  # --no-deps: only the binary and the library are used, not tritonclient's Python modules.
  rm -rf "$dir"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: --no-deps --require-hashes -r "$requirements"
  touch "$dir/.complete"
fi
echo "$dir"
