#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: deterministic where the
# VM's speed is not, so small per-request costs and the flat-cost claim can be compared
# exactly. Measures (d) the bare Pingora pass-through, then (c) agent-vault with 1 token and
# 1 service, then (c) again with 100,000 more tokens and 10,000 services. Each proxy runs
# under callgrind; after a warm-up its counters are zeroed, wrk sends requests for DURATION,
# and the counters are dumped and divided by the requests wrk completed.
#
# Needs valgrind, wrk, nginx-light and release builds:
#   cargo build --release -p agent-vault && cargo build --release -p av-benches --example passthrough
# Env: BENCH_KIT, AV_BIN, PASS_BIN, DURATION (10s), CONNS (4). Output: a markdown table on
# stdout and in $OUT/instructions.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH_KIT="${BENCH_KIT:-$ROOT/../shared/bench}"
# shellcheck source=/dev/null
source "$BENCH_KIT/common.sh"
# shellcheck source=lib.sh
source "$ROOT/benches/load/lib.sh"
DURATION="${DURATION:-10s}"; CONNS="${CONNS:-4}"
OUT="${1:-$RUN_DIR/av-instructions-$(date +%Y%m%d-%H%M%S)}"; mkdir -p "$OUT"
command -v callgrind_control >/dev/null || { echo "needs valgrind (callgrind_control)" >&2; exit 1; }
trap stop_all EXIT
stop_all

CG=(valgrind --tool=callgrind --dump-instr=no --collect-atstart=yes)
start_upstream
start_passthrough "${CG[@]}" --callgrind-out-file="$OUT/passthrough.callgrind"
start_agent_vault "${CG[@]}" --callgrind-out-file="$OUT/agentvault.callgrind"
wait_port "$UP_PORT"
# Under valgrind the master-key derivation alone takes many seconds.
for p in "$PASS_PORT" "$AV_PORT" "$AV_ADMIN"; do wait_port_for "$p" 300; done
setup_agent_vault

wait_idle() { # wait_idle PID: until a second passes with under 20 ms of its CPU (a reload done)
  local t0 t1
  for _ in $(seq 1 600); do
    t0=$(proc_cpu_ticks "$1"); sleep 1; t1=$(proc_cpu_ticks "$1")
    [ $((t1 - t0)) -lt $(($(getconf CLK_TCK) / 50)) ] && return 0
  done
  echo "process $1 never went idle" >&2; return 1
}
dumps() { find "$OUT" -maxdepth 1 -name "$(basename "$1").*" | wc -l; } # dumps FILE -> how many

count() { # count LABEL NAME PORT AUTH -> one table row
  local pid f before after n ir
  pid=$(pid_of "$2"); f="$OUT/$2.callgrind"
  wait_idle "$pid"
  local url="http://127.0.0.1:$3/proxy/localhost:$UP_PORT/v1/models"
  # shellcheck disable=SC2046
  $(wrk_prefix) wrk -t1 -c"$CONNS" -d3s -H "$4" "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  # shellcheck disable=SC2046
  $(wrk_prefix) wrk -t1 -c"$CONNS" -d"$DURATION" -H "$4" "$url" > "$OUT/$2-$1.wrk"
  before=$(dumps "$f")
  callgrind_control -d "$pid" >/dev/null 2>&1
  for _ in $(seq 1 100); do
    after=$(dumps "$f"); [ "$after" -gt "$before" ] && break; sleep 0.2
  done
  n=$(awk '/requests in/{print $1}' "$OUT/$2-$1.wrk")
  if grep -q 'Non-2xx' "$OUT/$2-$1.wrk"; then echo "$1: wrk saw errors" >&2; cat "$OUT/$2-$1.wrk" >&2; exit 1; fi
  # The newest dump holds the events since the counters were zeroed.
  ir=$(awk '/^(summary|totals):/{print $2; exit}' "$f.$after")
  echo "| $1 | $n | $((ir / n)) |"
}

{
  echo "date: $(date -u +%FT%TZ)  host: $(nproc) cpus, $(uname -r)  $(valgrind --version)  wrk -c$CONNS -d$DURATION"
  echo
  echo "| case | requests | instructions/request |"
  echo "|---|---|---|"
  count "(d) bare Pingora pass-through" passthrough "$PASS_PORT" "Authorization: Bearer $AGENT_TOKEN"
  count "(c) agent-vault, 1 token, 1 service" agentvault "$AV_PORT" "Authorization: Bearer $TOKEN"
  add_tokens 100000
  set_services 10000
  # The proxy reloads its view in the background; under valgrind that takes a while.
  wait_idle "$(pid_of agentvault)"
  count "(c) agent-vault, 100,000 more tokens, 10,000 services" agentvault "$AV_PORT" "Authorization: Bearer $TOKEN"
} | tee "$OUT/instructions.md"
echo "results in $OUT"
