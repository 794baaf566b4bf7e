#!/usr/bin/env bash
# Installs what the Python client test needs, for /usr/bin/python3: Debian's python3-grpcio (runtime) and a protoc that
# knows proto3 `optional` with the gRPC Python plugin (protobuf-compiler, protobuf-compiler-grpc; Debian 12's
# python3-grpc-tools bundles protoc 3.5, which predates it). apt-get, when root and missing. Idempotent.
set -euo pipefail
if /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null && command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null; then
  exit 0
fi
if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-grpcio protobuf-compiler protobuf-compiler-grpc >/dev/null
else
  echo "python3-grpcio, protobuf-compiler and protobuf-compiler-grpc are missing: install them (or run as root)" >&2
  exit 1
fi
