#!/usr/bin/env bash
# Creates, once, the virtual environment of server/bench/requirements.txt (the peers `npm run bench`
# measures beside our server: KServe's ModelServer and PyTriton, with onnxruntime) and prints its
# directory: $CDK8S_GPU_INFERENCE_CACHE, else ~/.cache/cdk8s-gpu-inference, /bench-venv-<the first
# 16 hex digits of the file's sha256>; a warm one is reused as is. server/bench/venv.ts computes the
# same path. The same scheme as test/clients/venv.sh, for another requirements file. Needs Debian's
# python3 and python3-venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
requirements=$here/requirements.txt
cache=${CDK8S_GPU_INFERENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-gpu-inference}
dir=$cache/bench-venv-$(sha256sum "$requirements" | cut -c1-16)
if [ ! -x "$dir/bin/python" ]; then
  # Built beside it and renamed when complete: an interrupted install leaves no half venv behind.
  rm -rf "$dir.partial"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "$dir.partial"
  "$dir.partial/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: -r "$requirements"
  mv "$dir.partial" "$dir"
fi
echo "$dir"
