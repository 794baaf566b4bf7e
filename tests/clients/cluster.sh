# Sourced by the client tests (node, python, web) and tests/run.sh: one local cluster for all of them.
#   muse_cluster_start   starts `muse up --port 0 --web-port 0` (building the CLI and the services first unless
#                        MUSE_SKIP_BUILD=1), waits for its MUSE_LISTENING and MUSE_WEB lines, exports MUSE_ENDPOINT
#                        (gRPC) and MUSE_WEB (page, HTTP/JSON API). Does nothing when MUSE_ENDPOINT is already set.
#   muse_cluster_stop    stops the cluster this shell started (also on EXIT, INT and TERM).
# The orchestrator also serves Prometheus metrics (Muse:Hosting:MetricsUrl), so a test can watch the server's in-flight
# gauge at $MUSE_WEB/metrics (mapped endpoints answer on every HTTP/1.1 listener).
muse_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
muse_up_pid=

muse_cluster_stop() {
  if [[ -n "$muse_up_pid" ]] && kill -0 "$muse_up_pid" 2>/dev/null; then
    # SIGTERM, not SIGINT: background jobs of a non-interactive shell ignore SIGINT. muse stops its children.
    kill -TERM "$muse_up_pid" 2>/dev/null
    wait "$muse_up_pid" 2>/dev/null
  fi
  muse_up_pid=
}

muse_cluster_start() {
  [[ -n "${MUSE_ENDPOINT:-}" ]] && return 0
  local start_seconds=${MUSE_UP_TIMEOUT:-240} log i
  if [[ "${MUSE_SKIP_BUILD:-0}" != 1 ]]; then
    dotnet build "$muse_root/orchestrator/Muse.Cli/Muse.Cli.csproj" -nologo -v q -clp:ErrorsOnly || return 1
  fi
  log=$(mktemp "${TMPDIR:-/tmp}/muse-up.XXXXXX")
  Muse__Hosting__MetricsUrl=http://127.0.0.1:0 dotnet "$muse_root/artifacts/bin/Muse.Cli/debug/muse.dll" up --port 0 --web-port 0 >"$log" 2>&1 &
  muse_up_pid=$!
  trap muse_cluster_stop EXIT
  trap 'muse_cluster_stop; exit 130' INT TERM
  # Real time, bounded at start_seconds: a separate process's log file announces nothing, so look once a second.
  for ((i = 0; i < start_seconds; i++)); do
    grep -q '^MUSE_WEB ' "$log" && break
    if ! kill -0 "$muse_up_pid" 2>/dev/null; then
      echo "muse up exited before it listened:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 1
  done
  MUSE_ENDPOINT=$(grep -m1 '^MUSE_LISTENING ' "$log" | cut -d' ' -f2)
  MUSE_WEB=$(grep -m1 '^MUSE_WEB ' "$log" | cut -d' ' -f2)
  if [[ -z "$MUSE_ENDPOINT" || -z "$MUSE_WEB" ]]; then
    echo "muse up printed no MUSE_LISTENING and MUSE_WEB lines within $start_seconds s:" >&2
    cat "$log" >&2
    return 1
  fi
  cat "$log"
  export MUSE_ENDPOINT MUSE_WEB
}
