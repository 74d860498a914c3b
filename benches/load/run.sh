#!/usr/bin/env bash
# Loopback load comparison, one run: (a) direct HTTPS upstream, (b) nginx injecting a static
# header, (c) agent-vault's proxy, (d) a bare Pingora pass-through (benches/examples/passthrough.rs),
# (e) agent-vault logging a line per request (level info), at 64 and 1 connections, alternating
# cases round by round; then the flat-cost runs of (c):
# 100,000 extra tokens, 10,000 services, and token minting at 100/s during the run; last, the
# SSE latency of (c) against a direct client (benches/examples/sse_latency.rs, its own HTTPS SSE
# upstream; DESIGN: first event forwarded within 5 ms), appended to the summary.
#
# Reuses the kit in ../shared/bench (certs, nginx configs, helpers; see its README) and the
# set-up in lib.sh. Every process started is recorded in $RUN_DIR/pids and stopped by PID on exit.
#
# Needs release builds: cargo build --release -p agent-vault && cargo build --release -p av-benches --example passthrough --example sse_latency
# Env: BENCH_KIT, AV_BIN, PASS_BIN, SSE_BIN, ROUNDS (3), DURATION (10s), PIN (1), FLAT_ROUNDS (2)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH_KIT="${BENCH_KIT:-$ROOT/../shared/bench}"
# shellcheck source=/dev/null
source "$BENCH_KIT/common.sh"
# shellcheck source=lib.sh
source "$ROOT/benches/load/lib.sh"
SSE_BIN="${SSE_BIN:-$ROOT/target/release/examples/sse_latency}"
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-10s}"; FLAT_ROUNDS="${FLAT_ROUNDS:-2}"
AV_INFO_PORT="${AV_INFO_PORT:-6388}"
OUT="${1:-$RUN_DIR/av-results-$(date +%Y%m%d-%H%M%S)}"; mkdir -p "$OUT"
trap stop_all EXIT
stop_all

# --- servers ---------------------------------------------------------------------------
start_upstream
mkdir -p "$RUN_DIR/tmp-px"
render "$BENCH_KIT/nginx-proxy.conf.in" "$RUN_DIR/nginx-proxy.conf"
start_bg nproxy "$NGINX_BIN" -p "$RUN_DIR" -c "$RUN_DIR/nginx-proxy.conf" -g "daemon off;"
start_passthrough
start_agent_vault
for p in "$UP_PORT" "$NGX_PROXY_PORT" "$PASS_PORT" "$AV_PORT" "$AV_ADMIN"; do wait_port "$p"; done
setup_agent_vault

# (e) = (c) with the default log level (info: one structured line per request, to a file), as
# a second --proxy-only process on the same database; (c) runs at warn, like nginx without an
# access log.
start_bg avinfo env "${AV_ENV[@]}" AGENT_VAULT_LOG=info "$AV_BIN" server --proxy-only --config "$RUN_DIR/agent-vault.yaml" \
  --data-dir "$RUN_DIR/av-data" --proxy-port "$AV_INFO_PORT"
wait_port "$AV_INFO_PORT"

# --- measurement -----------------------------------------------------------------------
url_of() {
  case $1 in
    a) echo "https://127.0.0.1:$UP_PORT/v1/models" ;;
    b) echo "http://127.0.0.1:$NGX_PROXY_PORT/proxy/localhost:$UP_PORT/v1/models" ;;
    c*) echo "http://127.0.0.1:$AV_PORT/proxy/localhost:$UP_PORT/v1/models" ;;
    d*) echo "http://127.0.0.1:$PASS_PORT/proxy/localhost:$UP_PORT/v1/models" ;;
    e) echo "http://127.0.0.1:$AV_INFO_PORT/proxy/localhost:$UP_PORT/v1/models" ;;
  esac
}
auth_of() { case $1 in c*|e) echo "Authorization: Bearer $TOKEN" ;; *) echo "Authorization: Bearer $AGENT_TOKEN" ;; esac; }
proxy_pids() {
  case $1 in a) echo "" ;; b) children "$(pid_of nproxy)" ;; c*) pid_of agentvault ;; d*) pid_of passthrough ;; e) pid_of avinfo ;; esac
}
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
TCK=$(getconf CLK_TCK)
echo "round,case,conns,rps,p50_ms,p99_ms,requests,proxy_cpu_us_per_req,errors" > "$OUT/raw.csv"
measure() { # measure ROUND CASE CONNS THREADS
  local f="$OUT/r$1-$2-c$3.txt" pp p0=0 p1=0 n rps p50 p99 pcpu err
  pp=$(proxy_pids "$2"); [ -n "$pp" ] && p0=$(proc_cpu_ticks $pp)
  # shellcheck disable=SC2046
  $(wrk_prefix) wrk -t"$4" -c"$3" -d"$DURATION" --latency -H "$(auth_of "$2")" "$(url_of "$2")" > "$f"
  [ -n "$pp" ] && p1=$(proc_cpu_ticks $pp)
  n=$(awk '/requests in/{print $1}' "$f"); rps=$(awk '/^Requests\/sec/{print $2}' "$f")
  p50=$(awk '$1=="50%"{print $2}' "$f" | to_ms); p99=$(awk '$1=="99%"{print $2}' "$f" | to_ms)
  pcpu=$(awk -v d=$((p1-p0)) -v n="$n" -v t="$TCK" 'BEGIN{printf "%.1f", d/t*1e6/n}')
  err=$(awk '/Non-2xx|Socket errors/{s=s $0 ";"} END{print s}' "$f" | tr ',' ' ')
  echo "$1,$2,$3,$rps,$p50,$p99,$n,$pcpu,${err:-0}" | tee -a "$OUT/raw.csv"
}
{
  echo "date: $(date -u +%FT%TZ)  host: $(nproc) cpus, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "PIN=$PIN SERVER_CPUS=$SERVER_CPUS WRK_CPUS=$WRK_CPUS NGINX_WORKERS=$NGINX_WORKERS PINGORA_THREADS=$PINGORA_THREADS"
  echo "ROUNDS=$ROUNDS DURATION=$DURATION  nginx: $($NGINX_BIN -v 2>&1)  wrk: $(wrk -v 2>&1 | head -1 | cut -c1-40)"
} > "$OUT/env.txt"
# shellcheck disable=SC2046
for c in a b c d e; do $(wrk_prefix) wrk -t1 -c8 -d2s -H "$(auth_of $c)" "$(url_of $c)" >/dev/null; done
for r in $(seq 1 "$ROUNDS"); do
  for spec in 64:2 1:1; do
    for c in a b c d e; do measure "$r" "$c" "${spec%%:*}" "${spec##*:}"; done
  done
done

# Flat cost: (c) before/after each change, same run. c-base = 1 service, few tokens. Each (c)
# run is paired with a (d) run right after it, so the VM's drift between phases cancels out
# in the ratio (c/d after) / (c/d before).
flat() { for r in $(seq 1 "$FLAT_ROUNDS"); do measure "$r" "c-$1" 64 2; measure "$r" "d-$1" 64 2; done; }
flat base
add_tokens 100000
flat 100k-tokens
set_services 10000
flat 10k-services
# Token minting at 100/s (admin API, keep-alive) while (c) is measured; stopped while its (d)
# partner runs, since admin shares the servers' CPU. The minter is a client like wrk, so it
# runs on the client CPU.
cat > "$RUN_DIR/minter.py" <<'PY'
import http.client, json, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
body = json.dumps({"vault": "default", "vault_role": "proxy"})
n, start = 0, time.time()
while True:
    conn.request("POST", "/v1/sessions", body, {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    conn.getresponse().read()
    n += 1
    time.sleep(max(0.0, start + n / 100 - time.time()))
PY
for r in $(seq 1 "$FLAT_ROUNDS"); do
  # shellcheck disable=SC2046
  $(wrk_prefix) python3 "$RUN_DIR/minter.py" "$AV_ADMIN" "$OWNER" >> "$RUN_DIR/minter.out" 2>&1 &
  MINTER=$!
  echo "$MINTER minter" >> "$PIDS_FILE"
  sleep 1
  measure "$r" c-minting 64 2
  kill "$MINTER" 2>/dev/null && wait "$MINTER" 2>/dev/null || true
  measure "$r" d-minting 64 2
done

# SSE latency: (c) in its final state (100,000 tokens, 10,000 services), client pinned like wrk.
if [ -x "$SSE_BIN" ]; then
  # shellcheck disable=SC2046
  SSE_CERT="$RUN_DIR/server.crt" SSE_KEY="$RUN_DIR/server.key" SSE_CA="$RUN_DIR/ca.crt" \
  SSE_PROXY="127.0.0.1:$AV_PORT" SSE_TOKEN="$TOKEN" $(wrk_prefix) "$SSE_BIN" > "$OUT/sse.md" \
    || echo "SSE latency run failed; see $OUT/sse.md" >&2
else
  echo "skipping SSE latency: $SSE_BIN missing (cargo build --release -p av-benches --example sse_latency)" >&2
fi

{
  python3 "$(dirname "$0")/summary.py" "$OUT/raw.csv"
  if [ -s "$OUT/sse.md" ]; then echo; cat "$OUT/sse.md"; fi
} | tee "$OUT/summary.md"
echo "results in $OUT"
