#!/usr/bin/env bash
# Installs the npm packages of folder DIR exactly as its package-lock.json pins them. Idempotent: skips npm when
# DIR/node_modules already matches the lock file. Shared by the Node.js client, web page and manifest validator tests.
# Usage: bash tests/clients/npm-ci.sh DIR
set -euo pipefail
cd "$1"
stamp=node_modules/.installed-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
