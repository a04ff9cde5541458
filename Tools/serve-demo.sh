#!/usr/bin/env bash
# Serves the web app with the demo clip ready to open: starts samtrackd with no --data and no
# --config (its embedded defaults: 127.0.0.1:8765, the bundled model synth.pt, the data directory
# $SAMTRACK_DATA or $XDG_DATA_HOME/samtrack or ~/.local/share/samtrack), uploads the bundled clip
# Fixtures/clips/clip_700002/video.mp4 (and ../shared/fixtures/bedroom.mp4 when present) unless
# the daemon already has them, prints the URL and serves until Ctrl-C (the daemon drains and
# exits). Tools/setup.sh ends with it.
#   Tools/serve-demo.sh [BUILD_DIR]      BUILD_DIR holds samtrackd (default .build/release)
# SAMTRACK_LISTEN=HOST:PORT overrides the address. The daemon's log goes to demo/samtrackd.log.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release}/samtrackd"
[ -x "$bin" ] || { echo "serve-demo.sh: $bin not found: build it first (swift build -c release --product samtrackd)" >&2; exit 1; }
listen="${SAMTRACK_LISTEN:-127.0.0.1:8765}"
mkdir -p demo
out=$(mktemp)
log=demo/samtrackd.log
args=()
[ -n "${SAMTRACK_LISTEN:-}" ] && args=(--listen "$listen")
"$bin" "${args[@]}" >"$out" 2>"$log" &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$out"; }
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 600); do
    grep -q "listening on" "$out" && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "serve-demo.sh: samtrackd did not start (is another one listening on $listen?):" >&2
        tail -5 "$log" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q "listening on" "$out" || { echo "serve-demo.sh: samtrackd did not start within 60 s (see $log)" >&2; exit 1; }
url="http://$listen"
existing=$(curl -sf "$url/v1/media")
upload() {  # FILE NAME
    if [ -f "$1" ] && ! grep -q "\"name\":\"$2\"" <<<"$existing"; then
        curl -sf -XPOST -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$url/v1/media?name=$2" >/dev/null \
            || { echo "serve-demo.sh: uploading $1 failed (see $log)" >&2; exit 1; }
        echo "registered $1 as $2"
    fi
}
upload Fixtures/clips/clip_700002/video.mp4 clip_700002.mp4
upload ../shared/fixtures/bedroom.mp4 bedroom.mp4
echo
echo "samtrack web app: $url/"
echo "  open it in a browser: Media -> Open clip_700002.mp4, click an object, Track forward, export the masks."
echo "  (daemon log: $log; Ctrl-C stops the daemon)"
wait "$pid"
