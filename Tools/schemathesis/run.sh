#!/usr/bin/env bash
# Runs schemathesis (PyPI) against docs/openapi.yaml and a samtrackd started here on a free
# loopback port with the micro model and ../shared/fixtures as its only source root. Every check,
# every phase (examples, coverage, fuzzing, stateful), bounded by --max-time. Exits non-zero when
# schemathesis finds a 5xx or a response that violates the document.
#
#   Tools/schemathesis/run.sh [SECONDS] [extra st options...]     (default 300 s)
#
# Needs a built samtrackd (.build/debug or .build/release; SAMTRACKD overrides) and creates its
# own virtualenv (Tools/.venv-schemathesis, git-ignored) on first use.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
seconds=${1:-300}
shift || true
venv=${SCHEMATHESIS_VENV:-$root/Tools/.venv-schemathesis}
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
daemon=${SAMTRACKD:-}
if [ -z "$daemon" ]; then
    for candidate in .build/release/samtrackd .build/debug/samtrackd; do
        [ -x "$candidate" ] && daemon=$candidate && break
    done
fi
[ -n "$daemon" ] || { echo "build samtrackd first (swift build --product samtrackd)" >&2; exit 2; }

work=$(mktemp -d /tmp/samtrackd-schemathesis.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/data"
media=$(cd ../shared/fixtures && pwd)
token=schemathesis-token-$RANDOM$RANDOM
cat > "$work/config.json" <<JSON
{"models": {"micro": "$root/Fixtures/models/micro.pt"}, "token": "$token",
 "sources": {"roots": ["$media"], "patterns": ["udp://127.0.0.1:*"]},
 "limits": {"max_running_jobs": 1, "max_queued_jobs": 100000, "max_body_bytes": 1048576},
 "http": {"header_timeout_s": 30, "body_timeout_s": 30},
 "threads_per_job": 1, "checkpoint_every": 50}
JSON
"$daemon" --listen 127.0.0.1:0 --data "$work/data" --config "$work/config.json" --log-level warning \
    > "$work/stdout" 2> "$work/stderr" &
pid=$!
for _ in $(seq 1 300); do
    grep -q "listening on" "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/stdout")
[ -n "$port" ] || { echo "samtrackd did not start:" >&2; cat "$work/stderr" >&2; exit 1; }
echo "samtrackd $daemon on 127.0.0.1:$port; schemathesis for ${seconds} s"
set +e
# From this folder, so that schemathesis.toml (accepted statuses) applies.
(cd "$root/Tools/schemathesis" && "$venv/bin/st" run "$root/docs/openapi.yaml" --url "http://127.0.0.1:$port" --checks all \
    -H "Authorization: Bearer $token" \
    --phases examples,coverage,fuzzing,stateful --max-time "$seconds" --request-timeout 20 \
    --workers 1 --suppress-health-check all "$@")
status=$?
set -e
if ! kill -0 "$pid" 2>/dev/null; then
    echo "samtrackd died during the run:" >&2
    tail -20 "$work/stderr" >&2
    exit 1
fi
exit $status
