#!/usr/bin/env bash
# Garbage collection of two checkouts under the peer table's squeezenet load (binary tensors,
# hey -c 200 for 15 s after a warm-up), old and new alternating: --trace-gc's mark-compacts,
# scavenges and the sum of their pauses in the window (every isolate of the process: the JS thread
# and the worker instances), with req/s, p99 and the load average.
#   server/bench/gc-ab.sh OLD_CHECKOUT [NEW_CHECKOUT, default this one]   (ROUNDS, default 2)
set -euo pipefail
OLD=$(cd "${1:?usage: gc-ab.sh OLD_CHECKOUT [NEW_CHECKOUT]}" && pwd)
NEW=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
W=$(mktemp -d); echo "logs: $W"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The bench's binary body (payloads.ts) in $W/image.bin; HLEN is its JSON header's length.
HLEN=$(cd "$NEW" && node --import tsx -e "import('./server/bench/payloads.ts').then((m) =>
  console.log(m.payloads('$W').binary.headers['Inference-Header-Content-Length']))")
echo "| round | checkout | req/s | p99 ms | mark-compacts | scavenges | GC ms (sum of pauses) | load |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "${ROUNDS:-2}"); do for side in old new; do
  dir=$OLD; [ $side = new ] && dir=$NEW
  P=$(port)
  (cd $dir && exec node --trace-gc --import tsx server/main.ts --port $P --host 127.0.0.1 --model-repository server/models --grpc-port 0 --metrics-port $(port) --log-level warn > $W/gc-$side-$r.log 2>&1) & pid=$!
  for _ in $(seq 200); do curl -sf http://127.0.0.1:$P/v2/health/ready >/dev/null && break; sleep 0.2; done
  url=http://127.0.0.1:$P/v2/models/squeezenet1_1/infer
  hey -c 50 -n 200 -m POST -T application/octet-stream -H "Inference-Header-Content-Length:$HLEN" -D $W/image.bin $url >/dev/null
  n0=$(wc -l < $W/gc-$side-$r.log)
  out=$(hey -c 200 -z 15s -m POST -T application/octet-stream -H "Inference-Header-Content-Length:$HLEN" -D $W/image.bin $url)
  tail -n +$((n0+1)) $W/gc-$side-$r.log > $W/win.log
  kill $pid || echo "server $side $r had exited: $(tail -3 $W/gc-$side-$r.log)"; wait $pid 2>/dev/null || true
  mc=$(grep -c 'Mark-Compact' $W/win.log || true); sc=$(grep -c 'Scavenge' $W/win.log || true)
  ms=$(grep -oP '(Mark-Compact|Scavenge)[^,]*, \K[\d.]+(?= /)' $W/win.log | awk '{s+=$1} END {printf "%.0f", s}')
  echo "| $r | $side | $(echo "$out" | grep -oP 'Requests/sec:\s+\K[\d.]+') | $(echo "$out" | grep -oP '99%\s+in\s+\K[\d.]+' | awk '{printf "%.0f", $1*1000}') | $mc | $sc | $ms | $(cut -d' ' -f1 /proc/loadavg) |"
done; done
