#!/usr/bin/env bash
# CPU profile of the server under the peer table's squeezenet load: hey -c 200 for 20 s with binary
# tensors, after a warm-up. Prints hey's figures, the server's CPU over the window (from
# /proc/PID/stat), its batch and compute metrics, then the profile's self time by file and by
# function (server/bench/profile-summary.mjs). Usage: server/bench/profile.sh [MODEL_REPOSITORY]
# (default server/models; point it at a copy with another config.json to A/B a configuration).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=${1:-server/models}
dir=$(mktemp -d)
node --import tsx -e "import('./server/bench/payloads.ts').then((m) => {
  const p = m.payloads('$dir');
  require('node:fs').writeFileSync('$dir/header-length', p.binary.headers['Inference-Header-Content-Length']);
})"
node --cpu-prof --cpu-prof-dir="$dir/prof" --import tsx server/main.ts --model-repository "$repo" \
  --port 18080 --grpc-port 0 --metrics-port 18082 --log-level warn >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18080/v2/health/ready >/dev/null && break; sleep 0.5; done
url=http://127.0.0.1:18080/v2/models/squeezenet1_1/infer
load=(-m POST -T application/octet-stream -H "Inference-Header-Content-Length: $(cat "$dir/header-length")" -D "$dir/image.bin")
hey -n 300 -c 50 "${load[@]}" "$url" >/dev/null
# Fields 14 and 15 of /proc/PID/stat: user and system clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
before=$(cpu)
hey -z 20s -c 200 "${load[@]}" "$url" >"$dir/hey.txt"
after=$(cpu)
curl -s http://127.0.0.1:18082/metrics |
  grep -E '^inference_(compute|queue)_duration_seconds_(sum|count)|^inference_batch_size_(sum|count)' || true
kill -TERM "$pid"
wait "$pid" || true
answers=$(awk '/\[200\]/ { print $2 }' "$dir/hey.txt")
grep -E 'Requests/sec|50% in|99% in|^\s+\[[0-9]{3}\]' "$dir/hey.txt"
ms=$(((after - before) * 1000 / $(getconf CLK_TCK)))
echo "server CPU in the window: ${ms} ms, per 2xx answer: $(awk -v ms="$ms" -v n="$answers" 'BEGIN { printf "%.2f", ms / n }') ms"
node server/bench/profile-summary.mjs "$dir/prof"
echo "profiles: $dir/prof"
