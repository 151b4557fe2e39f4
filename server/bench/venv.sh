#!/usr/bin/env bash
# Creates, once, the virtual environment of one of the peers `npm run bench` measures beside our
# server, and prints its directory:
#   server/bench/venv.sh             server/bench/requirements.txt (KServe's ModelServer, PyTriton,
#                                    onnxruntime)
#   server/bench/venv.sh torchserve  server/bench/requirements-torchserve.txt (TorchServe; sees
#                                    Debian's python3-torch through the system site packages)
# The directory is $CDK8S_GPU_INFERENCE_CACHE, else ~/.cache/cdk8s-gpu-inference, /bench-venv-<the
# first 16 hex digits of the file's sha256>; a warm one is reused as is. server/bench/venv.ts
# computes the same path. The same scheme as test/clients/venv.sh. Needs Debian's python3-venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  '') requirements=$here/requirements.txt; site=() ;;
  torchserve) requirements=$here/requirements-torchserve.txt; site=(--system-site-packages) ;;
  *) echo "server/bench/venv.sh: unknown peer '$1'; allowed: torchserve, or none" >&2; exit 2 ;;
esac
cache=${CDK8S_GPU_INFERENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-gpu-inference}
dir=$cache/bench-venv-$(sha256sum "$requirements" | cut -c1-16)
if [ ! -f "$dir/.complete" ]; then
  # Built in place (a venv's scripts name its path, so it cannot be renamed) and marked complete
  # last: an interrupted install is removed and redone on the next run.
  rm -rf "$dir"
  mkdir -p "$cache"
  /usr/bin/python3 -m venv "${site[@]}" "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: -r "$requirements"
  touch "$dir/.complete"
fi
echo "$dir"
