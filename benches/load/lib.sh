# Set-up shared by the load scripts (run.sh, instructions.sh): the HTTPS upstream from the kit,
# the bare Pingora pass-through, agent-vault and its vault, token and service. Source it after
# the kit's common.sh. A wrapper command (valgrind, ...) may precede what a start_* runs.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
AV_BIN="${AV_BIN:-$ROOT/target/release/agent-vault}"
PASS_BIN="${PASS_BIN:-$ROOT/target/release/examples/passthrough}"
AV_PORT="$PINGORA_PORT"; AV_ADMIN="$ADMIN_PORT"; PASS_PORT="$PINGORA2_PORT"
AV_ENV=(AGENT_VAULT_MASTER_PASSWORD=bench-master-password AGENT_VAULT_NETWORK_MODE=private
        "AGENT_VAULT_UPSTREAM_CA_FILE=$RUN_DIR/ca.crt")

start_upstream() { # the kit's nginx HTTPS upstream on $UP_PORT
  bash "$BENCH_KIT/gen-certs.sh"
  mkdir -p "$RUN_DIR/tmp-up"
  render "$BENCH_KIT/nginx-upstream.conf.in" "$RUN_DIR/nginx-upstream.conf"
  start_bg upstream "$NGINX_BIN" -p "$RUN_DIR" -c "$RUN_DIR/nginx-upstream.conf" -g "daemon off;"
}

start_passthrough() { # start_passthrough [WRAPPER...]: (d) on $PASS_PORT
  render "$BENCH_KIT/pingora.yaml.in" "$RUN_DIR/passthrough.yaml" passthrough false
  PROBE_CONF="$RUN_DIR/passthrough.yaml" PROBE_LISTEN="127.0.0.1:$PASS_PORT" \
  PROBE_UPSTREAM="127.0.0.1:$UP_PORT" start_bg passthrough "$@" "$PASS_BIN"
}

start_agent_vault() { # start_agent_vault [WRAPPER...]: (c) on $AV_PORT, admin on $AV_ADMIN, log level warn
  rm -rf "$RUN_DIR/av-data"
  cat > "$RUN_DIR/agent-vault.yaml" <<YAML
pingora:
  threads: $PINGORA_THREADS
  work_stealing: false
  upstream_keepalive_pool_size: 128
YAML
  start_bg agentvault env "${AV_ENV[@]}" AGENT_VAULT_DEV_MODE=true AGENT_VAULT_LOG=warn \
    "$@" "$AV_BIN" server --config "$RUN_DIR/agent-vault.yaml" \
    --data-dir "$RUN_DIR/av-data" --port "$AV_ADMIN" --proxy-port "$AV_PORT"
}

wait_port_for() { # wait_port_for PORT SECONDS (slower starts than wait_port allows, e.g. under valgrind)
  local _
  for _ in $(seq 1 $(($2 * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "port $1 did not open in $2 s" >&2; return 1
}

api() { # api METHOD PATH [JSON] -> body
  curl -sf -X "$1" "http://127.0.0.1:$AV_ADMIN$2" -H "Authorization: Bearer ${OWNER:-}" \
    -H 'Content-Type: application/json' ${3:+--data-binary "$3"}
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

setup_agent_vault() { # owner, one bearer service for localhost, its credential; sets OWNER and TOKEN
  api POST /v1/auth/register '{"email":"bench@example.com","password":"bench-password-1"}' >/dev/null
  OWNER=$(api POST /v1/auth/login '{"email":"bench@example.com","password":"bench-password-1"}' | json token)
  api PUT /v1/vaults/default/services \
    '{"services":[{"host":"localhost","auth":{"type":"bearer","token":"API_TOKEN"}}]}' >/dev/null
  api POST /v1/credentials '{"vault":"default","credentials":{"API_TOKEN":"secret"}}' >/dev/null
  TOKEN=$(api POST /v1/sessions '{"vault":"default","vault_role":"proxy"}' | json token)
  sleep 0.5
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$AV_PORT/proxy/localhost:$UP_PORT/v1/models" >/dev/null \
    || { echo "agent-vault proxy check failed" >&2; cat "$RUN_DIR/agentvault.out" >&2; return 1; }
}

add_tokens() { # add_tokens N: N more live scoped sessions, written straight into the database
  python3 - "$RUN_DIR/av-data/agent-vault.db" "$1" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
rows = [(os.urandom(32).hex(), "00000000-0000-0000-0000-000000000000") for _ in range(int(sys.argv[2]))]
db.executemany("INSERT INTO sessions (id, created_at, vault_id, vault_role, expires_at) VALUES (?, datetime('now'), ?, 'proxy', '2999-01-01 00:00:00')", rows)
db.commit()
PY
  sleep 2
}

set_services() { # set_services N: N services in the default vault, localhost last
  python3 - "$1" > "$RUN_DIR/services.json" <<'PY'
import json, sys
n = int(sys.argv[1])
s = [{"host": f"s{i}.example.com", "auth": {"type": "bearer", "token": "API_TOKEN"}} for i in range(n - 1)]
s.append({"host": "localhost", "auth": {"type": "bearer", "token": "API_TOKEN"}})
print(json.dumps({"services": s}))
PY
  curl -sf -X PUT "http://127.0.0.1:$AV_ADMIN/v1/vaults/default/services" -H "Authorization: Bearer $OWNER" \
    -H 'Content-Type: application/json' --data-binary @"$RUN_DIR/services.json" >/dev/null
  sleep 2
}
