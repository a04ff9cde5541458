#!/usr/bin/env bash
# One command for a newcomer on a fresh Debian machine: install the system packages, build
# samtrack (release), and run it with the bundled default model (Fixtures/models/synth.pt, the
# SAM 2.1 architecture at 256 px that the project trained on generated clips, Tools/train):
#   - track the three objects of the bundled synthetic clip Fixtures/clips/clip_700002 (prompted
#     with their frame-0 masks), writing DAVIS palette masks and an overlay video, and score the
#     masks against the clip's ground truth;
#   - track two objects through a real video (../shared/fixtures/bedroom.mp4) and segment a photo:
#     the small model has only seen synthetic shapes, so expect rough masks on real footage.
# Everything goes under demo/. With an official checkpoint: MODEL=path/to/sam2.1_hiera_tiny.pt.
# Then it starts samtrackd on its defaults with the demo clip registered and prints the URL of the
# web app (http://127.0.0.1:8765/; Tools/serve-demo.sh) until Ctrl-C. `--no-serve` (or
# SAMTRACK_SETUP_NO_SERVE=1) does everything else and exits, for scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=1
for arg in "$@"; do
    case "$arg" in
        --no-serve) serve=0 ;;
        *) echo "usage: Tools/setup.sh [--no-serve]" >&2; exit 64 ;;
    esac
done
[ "${SAMTRACK_SETUP_NO_SERVE:-0}" = 1 ] && serve=0
Tools/install-deps.sh
swift build -c release --product samtrack
swift build -c release --product samtrackd
bin=.build/release/samtrack
model_args=()
[ -n "${MODEL:-}" ] && model_args=(--model "$MODEL")
mkdir -p demo

echo "== samtrack info ${MODEL:-(default model)}"
$bin info ${MODEL:+"$MODEL"}

clip=Fixtures/clips/clip_700002
echo "== synthetic clip: $clip (three objects crossing, one hidden up to 90%)"
$bin track "$clip/video.mp4" "${model_args[@]}" \
    --mask 1:$clip/masks/1.png --mask 2:$clip/masks/2.png --mask 3:$clip/masks/3.png \
    --output demo/synthetic --format palette --overlay demo/synthetic_overlay.mp4
# Scores against the clip's ground truth when a Python with numpy and Pillow is around.
for py in python3 /usr/bin/python3 "${SAMTRACK_VENV:-Tools/reference/.venv}/bin/python"; do
    if command -v "$py" >/dev/null && "$py" -c "import numpy, PIL" 2>/dev/null; then
        "$py" Tools/eval/score_palette.py "$clip/gt" demo/synthetic
        break
    fi
done

media=../shared/fixtures
if [ -f "$media/bedroom.mp4" ]; then
    echo "== real video: $media/bedroom.mp4 (first 60 frames)"
    $bin track "$media/bedroom.mp4" "${model_args[@]}" --max-frames 60 \
        --box 1:300,150,520,500 --point 2:700,300 \
        --output demo/bedroom --overlay demo/bedroom_overlay.mp4
    echo "== photo: $media/truck.jpg"
    $bin segment "$media/truck.jpg" "${model_args[@]}" --box 500,400,1300,900 --output demo/truck_mask.png
fi
echo "done: masks and overlays are in demo/ (open demo/*_overlay.mp4 with any video player)"
if [ "$serve" = 1 ]; then
    echo "== the web app (Tools/serve-demo.sh; Tools/setup.sh --no-serve skips this)"
    exec Tools/serve-demo.sh .build/release
fi
