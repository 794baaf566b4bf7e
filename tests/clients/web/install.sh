#!/usr/bin/env bash
# Installs what the web page test needs: Debian's chromium (apt-get, when root and missing; Playwright cannot download
# browsers here) and playwright-core exactly as package-lock.json pins it. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install Debian's chromium package (or run as root)" >&2
    exit 1
  fi
fi
exec bash ../npm-ci.sh "$PWD"
