#!/usr/bin/env bash
# Runs a command inside the reference virtualenv (official sam2 + torch), creating it on first use.
# The virtualenv lives in $SAMTRACK_VENV (default Tools/reference/.venv); it is never used by the
# product, only to generate fixtures and run parity checks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${SAMTRACK_VENV:-$here/.venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sam2, torch" 2>/dev/null; then
    echo "creating reference virtualenv in $venv (torch + sam2, ~5 GB, 10-15 minutes)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$here/requirements.txt"
    SAM2_BUILD_CUDA=0 "$venv/bin/pip" install -q --no-build-isolation "sam2==1.1.0"
fi
if [ "${1:-}" = python ]; then shift; exec "$venv/bin/python" "$@"; fi
exec env PATH="$venv/bin:$PATH" "$@"
