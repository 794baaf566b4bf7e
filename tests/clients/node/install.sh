#!/usr/bin/env bash
# Installs the Node.js client test's packages exactly as package-lock.json pins them (idempotent).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/../npm-ci.sh" "$here"
