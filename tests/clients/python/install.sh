#!/usr/bin/env bash
# Installs what the Python client test needs: Debian's python3-grpcio and python3-grpc-tools for /usr/bin/python3
# (apt-get, when root and missing). Idempotent.
set -euo pipefail
if /usr/bin/python3 -c 'import grpc, grpc_tools.protoc' 2>/dev/null; then
  exit 0
fi
if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-grpcio python3-grpc-tools >/dev/null
else
  echo "python3-grpcio and python3-grpc-tools are missing: install them (or run as root)" >&2
  exit 1
fi
