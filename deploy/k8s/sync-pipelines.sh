#!/usr/bin/env bash
# Writes base/pipelines.json (the pipelines ConfigMap) from models/pipelines.json without the muse-random test fixture
# pipelines: kustomize reads no file outside its root, and pods serve only the trained models.
# Muse.Deploy.Tests fails when the two disagree; run this after changing models/pipelines.json.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python3 - "$here/../../models/pipelines.json" "$here/base/pipelines.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
doc["pipelines"] = {name: p for name, p in doc["pipelines"].items() if not name.startswith("muse-random")}
open(sys.argv[2], "w", encoding="utf-8").write(json.dumps(doc, indent=2) + "\n")
PY
