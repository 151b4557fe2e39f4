#!/usr/bin/env bash
# Creates, once, the virtual environment of test/clients/requirements.txt (the pinned Python clients
# test/clients/*.test.ts run) and prints its directory: $CDK8S_GPU_INFERENCE_CACHE, else
# ~/.cache/cdk8s-gpu-inference, /venv-<the first 16 hex digits of the file's sha256>; a warm one is
# reused as is. test/clients/venv.ts computes the same path. Needs Debian's python3 and python3-venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
requirements=$root/test/clients/requirements.txt
cache=${CDK8S_GPU_INFERENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-gpu-inference}
dir=$cache/venv-$(sha256sum "$requirements" | cut -c1-16)
if [ ! -f "$dir/.complete" ]; then
  # Built in place (a venv's scripts name its path, so it cannot be renamed) and marked complete
  # last: an interrupted install is removed and redone on the next run.
  rm -rf "$dir"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: -r "$requirements"
  touch "$dir/.complete"
fi
echo "$dir"
