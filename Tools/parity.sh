#!/usr/bin/env bash
# Full-size parity check: the official SAM 2.1 tiny config (1024 px) with seeded random weights,
# run by the official PyTorch code and by samtrack on the same inputs, compared tensor by tensor.
#
# usage: Tools/parity.sh image|video|session [SCRATCH_DIR]
#   image    truck.jpg: encoder features, image embedding, three prompt sets (masks, IoU, logits)
#   video    30 frames of bedroom.mp4, two objects, a correction on frame 15: per-frame logits and
#            mask IoU (plus memories and pointers through the committed micro fixtures' code path)
#   session  24 frames of bedroom.mp4, the interactive session of the committed micro_session
#            fixture on VideoPredictor (prompts on frames 0 and 10, propagation both ways from a
#            correction, an object removed): every returned frame's logits, scores and pointers,
#            and the final memories
# Needs the reference virtualenv (Tools/reference/venv.sh creates it: torch + sam2, ~5 GB) and
# ../shared/fixtures. The scratch directory (default /tmp/samtrack-parity-MODE) holds a 150 MB
# checkpoint and the reference tensors; nothing is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: Tools/parity.sh image|video|session [SCRATCH_DIR]}
case "$mode" in image|video|session) ;; *) echo "mode must be image, video or session" >&2; exit 2 ;; esac
dir=${2:-/tmp/samtrack-parity-$mode}
mkdir -p "$dir"
if [ ! -f "$dir/$mode.safetensors" ]; then
    echo "== official reference ($mode) -> $dir"
    if [ "$mode" = session ]; then
        Tools/reference/venv.sh python Tools/reference/make_session_fixtures.py --full-size "$dir"
    else
        Tools/reference/venv.sh python Tools/reference/make_full_parity.py "$mode" "$dir"
    fi
fi
echo "== samtrack (release build)"
case "$mode" in image) test_name=testImagePath ;; video) test_name=testVideoPath ;; session) test_name=testSessionPath ;; esac
SAMTRACK_PARITY_DIR="$dir" swift test -c release -Xswiftc -enable-testing \
    --filter "FullSizeParityTests.$test_name" 2>&1 | grep -E "parity|frame|worst|encoder|prompt|step|error|passed|failed|skipped"
