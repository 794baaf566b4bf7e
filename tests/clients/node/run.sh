#!/usr/bin/env bash
# Node.js client test: grpc-js against a local cluster, from protos/muse/v1/*.proto only.
# Usage: bash tests/clients/node/run.sh [TAP_FILE]
#   Starts a local cluster (../cluster.sh: `muse up`, building the CLI and the services first), runs `node --test`,
#   and stops the cluster. With MUSE_ENDPOINT set, tests that orchestrator and starts nothing.
#   TAP_FILE, when given, also receives the results in TAP form (tests/run.sh sums them).
#   MUSE_SKIP_BUILD=1 uses the existing build (e.g. right after building the solution).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tap=${1:-}

bash "$here/install.sh" || { echo "npm install failed" >&2; exit 1; }

source "$here/../cluster.sh"
muse_cluster_start || exit 1

echo "Node.js $(node --version) client test against $MUSE_ENDPOINT"
cd "$here"
reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [[ -n "$tap" ]]; then
  mkdir -p "$(dirname "$tap")"
  reporters+=(--test-reporter=tap --test-reporter-destination="$tap")
fi
node --test "${reporters[@]}" muse.test.mjs
status=$?
muse_cluster_stop
exit $status
