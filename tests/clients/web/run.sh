#!/usr/bin/env bash
# Web page test: Debian's chromium, driven by playwright-core, uses the orchestrator's page like a person would.
# Usage: bash tests/clients/web/run.sh [TAP_FILE]
#   Starts a local cluster (../cluster.sh) unless MUSE_ENDPOINT and MUSE_WEB are set, runs `node --test`, stops it.
#   Screenshots go to MUSE_SCREENSHOTS (default artifacts/test-results/web). MUSE_SKIP_BUILD=1 uses the existing build.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tap=${1:-}

bash "$here/install.sh" || { echo "web test install failed" >&2; exit 1; }

source "$here/../cluster.sh"
muse_cluster_start || exit 1
export MUSE_SCREENSHOTS=${MUSE_SCREENSHOTS:-$muse_root/artifacts/test-results/web}
export MUSE_CLI=${MUSE_CLI:-$muse_root/artifacts/bin/Muse.Cli/debug/muse.dll}

echo "Web page test ($(chromium --version 2>/dev/null)) against $MUSE_WEB"
cd "$here"
reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [[ -n "$tap" ]]; then
  mkdir -p "$(dirname "$tap")"
  reporters+=(--test-reporter=tap --test-reporter-destination="$tap")
fi
node --test --test-concurrency=1 "${reporters[@]}" web.test.mjs
status=$?
muse_cluster_stop
exit $status
