#!/usr/bin/env bash
# Installs the Debian packages samtrack builds and tests against (run as root, or with sudo).
# pkg-config finds OpenBLAS (cblas), FFmpeg's libraries and SQLite; the ffmpeg/ffprobe CLIs are used by
# tests and tools only; python3-venv lets the interop tests make their own virtualenv; GRDB (the
# daemon's job store) builds against the system SQLite (libsqlite3-dev); chromium and
# chromium-driver run the web app's browser test (Tests/samtrackdTests/WebAppTests.swift), curl
# registers the demo clip in Tools/serve-demo.sh; the multi-node tests start a private PostgreSQL
# server from Debian's postgresql package (initdb/postgres under /usr/lib/postgresql/<version>/bin;
# run as the postgres user when the tests run as root).
set -euo pipefail
packages=(pkg-config libopenblas-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
          libavdevice-dev ffmpeg python3-venv python3-pip libsqlite3-dev groff-base man-db
          chromium chromium-driver curl postgresql)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
echo "installing: ${missing[*]}"
$sudo_cmd apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
