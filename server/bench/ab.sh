#!/usr/bin/env bash
# Side-by-side A/B of two checkouts of this repository on one machine, old and new alternating in
# each round so that a change in the shared machine's load does not favour one of them:
#   - the MLP (JSON, [1,16]) under `hey -c 200 -z $MLP_SECONDS`, and the bare Hono endpoint;
#   - squeezenet1_1 with a binary image under `hey -c 200 -n $IMAGES`, with the server's CPU
#     time per answered request (utime + stime from /proc).
#
#   git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
#   server/bench/ab.sh /tmp/old [new checkout, default: this one]
#
# Loopback only; needs hey, curl. Every server it starts it stops.
set -euo pipefail
OLD=$(cd "${1:?usage: ab.sh OLD_CHECKOUT [NEW_CHECKOUT]}" && pwd)
NEW=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
ROUNDS=${ROUNDS:-2} MLP_SECONDS=${MLP_SECONDS:-5} IMAGES=${IMAGES:-1500}
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

# The bench's bodies (payloads.ts): mlp.json, and image.bin, a JSON header then one 1x3x224x224
# FP32 image; HLEN is that header's length.
HLEN=$(cd "$NEW" && node --import tsx -e "import('./server/bench/payloads.ts').then((m) =>
  console.log(m.payloads('$WORK').binary.headers['Inference-Header-Content-Length']))")

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start DIR PORT CMD...: runs CMD in DIR, waits for readiness.
start() {
  local dir=$1 p=$2; shift 2
  (cd "$dir" && exec "$@" >"$WORK/$p.log" 2>&1) &
  PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$p/v2/health/ready" >/dev/null && return; sleep 0.2; done
  echo "server in $dir did not become ready; log: $(tail -5 "$WORK/$p.log")" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
TICK_MS=$((1000 / $(getconf CLK_TCK)))
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rps() { grep -oP 'Requests/sec:\s+\K[\d.]+'; }
mlp() {
  hey -c 50 -n 2000 -m POST -T application/json -D "$WORK/mlp.json" "http://127.0.0.1:$1/v2/models/mlp/infer" >/dev/null
  hey -c 200 -z "${MLP_SECONDS}s" -m POST -T application/json -D "$WORK/mlp.json" "http://127.0.0.1:$1/v2/models/mlp/infer" | rps
}
# Free gRPC and metrics ports: the defaults (8001, 8002) may be held by another server on a shared machine.
server() { start "$1" "$2" node --import tsx server/main.ts --port "$2" --host 127.0.0.1 --model-repository server/models --grpc-port 0 --metrics-port "$(port)"; }
p99() { grep -oP '99%\s+in\s+\K[\d.]+' | awk '{printf "%.0f", $1 * 1000}'; }
load() { cut -d' ' -f1 /proc/loadavg; }

echo "| round | checkout | MLP req/s | squeezenet binary req/s | p99 ms | server CPU ms per image | answered | load average (1 min) |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  for side in old new; do
    dir=$OLD; [ "$side" = new ] && dir=$NEW
    p=$(port); server "$dir" "$p"
    m=$(mlp "$p")
    url="http://127.0.0.1:$p/v2/models/squeezenet1_1/infer"
    hey -c 50 -n 300 -m POST -T application/octet-stream -H "Inference-Header-Content-Length:$HLEN" -D "$WORK/image.bin" "$url" >/dev/null
    c0=$(cpu)
    out=$(hey -c 200 -n "$IMAGES" -t 60 -m POST -T application/octet-stream -H "Inference-Header-Content-Length:$HLEN" -D "$WORK/image.bin" "$url")
    c1=$(cpu)
    ok=$(echo "$out" | grep -oP '\[200\]\s+\K\d+' || echo 0)
    echo "| $r | $side ($dir) | $m | $(echo "$out" | rps) | $(echo "$out" | p99) | $(awk "BEGIN{printf \"%.2f\", ($c1-$c0)*$TICK_MS/($ok>0?$ok:1)}") | $ok | $(load) |"
    stop
  done
  p=$(port); start "$NEW/server" "$p" node --import tsx bench/constant-server.ts "$p"
  echo "| $r | bare Hono endpoint | $(mlp "$p") | | | | | $(load) |"
  stop
done
