#!/usr/bin/env bash
# Runs every test of the project: the .NET test projects (unit, service, end-to-end) and the client tests (Node.js,
# Python, the web page in chromium) against one local cluster. Prints one closing line "N passed, N failed" summed over all results.
# Usage: bash tests/run.sh            (from anywhere; needs only the .NET SDK, and Node.js for the client test)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
results="$root/artifacts/test-results"
rm -rf "$results" && mkdir -p "$results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Without a GPU no output folder needs ONNX Runtime's CUDA/TensorRT providers (~320 MB each; Directory.Build.targets).
gpu=()
command -v nvidia-smi >/dev/null 2>&1 || gpu=(-p:OnnxRuntimeGpu=false)

status=0
echo "== build"
dotnet build MuseGrpc.sln -c Debug -nologo -v q -clp:ErrorsOnly "${gpu[@]}" || status=1

if [[ $status -eq 0 ]]; then
  echo "== .NET tests"
  # One test project at a time: the end-to-end tests start several processes and the machine has 2 cores.
  for project in $(ls tests/*/*.Tests.csproj | sort); do
    name=$(basename "$project" .csproj)
    echo "-- $name"
    dotnet test "$project" --no-build -nologo -v q \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results" || status=1
  done

  # Training smoke test (issue: trained model set): a few steps of every stage on a few scenes, exported to ONNX
  # through Muse.ModelBuilder, then the parity tests against that fresh export. It takes the paths of the 256 px set
  # (corrupted visible tokens, a 32×32 SR trained on windows, VQGAN crops of 256 px scenes). TorchSharp needs a newer glibc than
  # this host, so it runs only where the shared modern-userland tool is present (it is on the project's machines).
  userland="$root/../shared/tools/modern-userland"
  if [[ -x "$userland" && $(id -u) == 0 ]]; then
    echo "-- training smoke (modern-userland) + parity on its export"
    smoke=$(mktemp -d "${TMPDIR:-/tmp}/muse-smoke.XXXXXX")
    if dotnet build models/Muse.Training -c Release -nologo -v q -clp:ErrorsOnly "${gpu[@]}" \
      && "$userland" -- dotnet artifacts/bin/Muse.Training/release/Muse.Training.dll train --stage all --smoke --corrupt-visible 0.1 --sr-size 256 --sr-crop 8 --crop-source 256 --out "$smoke" >"$smoke/log.txt" 2>&1; then
      MUSE_PARITY_FIXTURES="$smoke/fixtures" MUSE_PARITY_REPOSITORY="$smoke/repository" \
        dotnet test tests/Muse.Parity.Tests/Muse.Parity.Tests.csproj --no-build -nologo -v q \
        --logger "trx;LogFileName=Muse.Parity.Tests.smoke.trx" --results-directory "$results" || status=1
      # The continuation path of the shipped SR: the 256 px pipeline's models imported, two steps on from its SR.
      echo "-- training smoke: import --pipeline muse-tiny-256, then --init-from its SR"
      if ! { "$userland" -- dotnet artifacts/bin/Muse.Training/release/Muse.Training.dll import --pipeline muse-tiny-256 --out "$smoke/shipped" \
          && "$userland" -- dotnet artifacts/bin/Muse.Training/release/Muse.Training.dll train --stage sr --smoke --init-from "$smoke/shipped/sr" \
            --steps 2 --batch 2 --sr-crop 8 --out "$smoke/shipped" \
          && grep -q '"initSteps": [1-9]' "$smoke/shipped/sr/metrics.json"; } >"$smoke/continue.txt" 2>&1; then
        echo "SR continuation smoke failed:" >&2; tail -20 "$smoke/continue.txt" >&2; cat "$smoke/shipped/sr/metrics.json" >&2 2>/dev/null; status=1
      fi
    else
      echo "training smoke failed:" >&2; tail -20 "$smoke/log.txt" >&2 2>/dev/null; status=1
    fi
    rm -rf "$smoke"
  else
    echo "-- training smoke skipped: ../shared/tools/modern-userland is not available (or not root)"
  fi

  # The client tests share one local cluster (tests/clients/cluster.sh): Node.js (grpc-js), Python (grpcio) and the
  # web page in Debian's chromium. Each installs what it needs (npm ci; apt-get when root) and writes TAP.
  echo "== client tests (Node.js, Python, web page) against one local cluster"
  # The solution was just built: the client tests reuse that build.
  export MUSE_SKIP_BUILD=1
  source tests/clients/cluster.sh
  if muse_cluster_start >"$results/cluster.log" 2>&1; then
    if command -v node >/dev/null 2>&1; then
      echo "-- Node.js client test"
      bash tests/clients/node/run.sh "$results/node-tap.txt" || status=1
      echo "-- web page test"
      bash tests/clients/web/run.sh "$results/web-tap.txt" || status=1
    else
      echo "-- Node.js client and web page tests skipped: node is not installed" >&2
    fi
    echo "-- Python client test"
    bash tests/clients/python/run.sh "$results/python-tap.txt" || status=1
  else
    echo "the local cluster for the client tests did not start:" >&2; cat "$results/cluster.log" >&2; status=1
  fi
  muse_cluster_stop
fi

# Sum the TRX counters and the client tests' TAP summaries (node, web, python) into the one line CI reads.
python3 - "$results" <<'PY' || true
import glob, re, sys, os
d = sys.argv[1]
passed = failed = skipped = 0
for path in glob.glob(os.path.join(d, "*.trx")):
    text = open(path, encoding="utf-8", errors="replace").read()
    m = re.search(r"<Counters [^>]*>", text)
    if not m:
        continue
    attrs = dict(re.findall(r'(\w+)="(\d+)"', m.group(0)))
    passed += int(attrs.get("passed", 0))
    failed += int(attrs.get("failed", 0)) + int(attrs.get("error", 0)) + int(attrs.get("timeout", 0)) + int(attrs.get("aborted", 0))
    skipped += int(attrs.get("notExecuted", 0))
for tap in sorted(glob.glob(os.path.join(d, "*-tap.txt"))):
    text = open(tap, encoding="utf-8", errors="replace").read()
    for key in ("pass", "fail", "skipped"):
        m = re.findall(rf"^# {key} (\d+)$", text, re.M)
        if m:
            n = int(m[-1])
            if key == "pass": passed += n
            elif key == "fail": failed += n
            else: skipped += n
open(os.path.join(d, "summary.txt"), "w").write(f"{passed} {failed} {skipped}\n")
PY
read -r passed failed skipped < "$results/summary.txt" 2>/dev/null || { passed=0; failed=0; skipped=0; }
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi   # a build or runner failure counts as a failure
echo "skipped: $skipped"
echo "$passed passed, $failed failed"
[[ $status -eq 0 && $failed -eq 0 ]]
