#!/usr/bin/env bash
# Installs the manifest validator's packages exactly as package-lock.json pins them (idempotent).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/../../tests/clients/npm-ci.sh" "$here"
