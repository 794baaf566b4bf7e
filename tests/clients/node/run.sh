#!/usr/bin/env bash
# Node.js client test: grpc-js against a local cluster, from protos/muse/v1/*.proto only.
# Usage: bash tests/clients/node/run.sh [TAP_FILE]
#   Starts `muse up --port 0` (building the CLI and the services first), waits for its MUSE_LISTENING line, runs
#   `node --test`, and stops the cluster. With MUSE_ENDPOINT set, tests that orchestrator and starts nothing.
#   TAP_FILE, when given, also receives the results in TAP form (tests/run.sh sums them).
#   MUSE_SKIP_BUILD=1 uses the existing build (e.g. right after building the solution).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
tap=${1:-}
start_seconds=${MUSE_UP_TIMEOUT:-240}

bash "$here/install.sh" || { echo "npm install failed" >&2; exit 1; }

up_pid=
stop_cluster() {
  if [[ -n "$up_pid" ]] && kill -0 "$up_pid" 2>/dev/null; then
    # SIGTERM, not SIGINT: background jobs of a non-interactive shell ignore SIGINT. muse stops its children.
    kill -TERM "$up_pid" 2>/dev/null
    wait "$up_pid" 2>/dev/null
  fi
  up_pid=
}
trap stop_cluster EXIT
trap 'stop_cluster; exit 130' INT TERM

if [[ -z "${MUSE_ENDPOINT:-}" ]]; then
  if [[ "${MUSE_SKIP_BUILD:-0}" != 1 ]]; then
    dotnet build "$root/orchestrator/Muse.Cli/Muse.Cli.csproj" -nologo -v q -clp:ErrorsOnly || exit 1
  fi
  log=$(mktemp "${TMPDIR:-/tmp}/muse-up.XXXXXX")
  dotnet "$root/artifacts/bin/Muse.Cli/debug/muse.dll" up --port 0 >"$log" 2>&1 &
  up_pid=$!
  # Real time, bounded at start_seconds: a separate process's log file announces nothing, so look once a second.
  for ((i = 0; i < start_seconds; i++)); do
    grep -q '^MUSE_LISTENING ' "$log" && break
    if ! kill -0 "$up_pid" 2>/dev/null; then
      echo "muse up exited before it listened:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 1
  done
  MUSE_ENDPOINT=$(grep -m1 '^MUSE_LISTENING ' "$log" | cut -d' ' -f2)
  if [[ -z "$MUSE_ENDPOINT" ]]; then
    echo "muse up printed no MUSE_LISTENING line within $start_seconds s:" >&2
    cat "$log" >&2
    exit 1
  fi
  cat "$log"
  export MUSE_ENDPOINT
fi

echo "Node.js $(node --version) client test against $MUSE_ENDPOINT"
cd "$here"
reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [[ -n "$tap" ]]; then
  mkdir -p "$(dirname "$tap")"
  reporters+=(--test-reporter=tap --test-reporter-destination="$tap")
fi
node --test "${reporters[@]}" muse.test.mjs
status=$?
stop_cluster
exit $status
