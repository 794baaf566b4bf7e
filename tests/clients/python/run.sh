#!/usr/bin/env bash
# Python client test: grpcio with stubs generated from protos/ alone (protoc + grpc_python_plugin, at test time).
# Usage: bash tests/clients/python/run.sh [TAP_FILE]
#   Starts a local cluster (../cluster.sh) unless MUSE_ENDPOINT is set, runs the test, stops the cluster.
#   Uses /usr/bin/python3 (Debian's grpcio), not whatever python3 is first on PATH.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tap=${1:-}
python=/usr/bin/python3

bash "$here/install.sh" || { echo "python client test install failed" >&2; exit 1; }

source "$here/../cluster.sh"
muse_cluster_start || exit 1

stubs=$(mktemp -d "${TMPDIR:-/tmp}/muse-py.XXXXXX")
protoc -I "$muse_root/protos" --python_out="$stubs" --grpc_python_out="$stubs" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  "$muse_root"/protos/muse/v1/*.proto "$muse_root"/protos/google/api/*.proto || exit 1

echo "Python $("$python" --version 2>&1 | cut -d' ' -f2) client test against $MUSE_ENDPOINT"
[[ -n "$tap" ]] && mkdir -p "$(dirname "$tap")"
PYTHONPATH="$stubs" "$python" "$here/muse_client_test.py" ${tap:+"$tap"}
status=$?
rm -rf "$stubs"
muse_cluster_stop
exit $status
