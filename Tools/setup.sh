#!/usr/bin/env bash
# One command for a newcomer on a fresh Debian machine: install the system packages, build
# samtrack (release), and run it: segment a photo, track two objects through a synthetic clip and
# through a real video, writing masks and overlay videos under demo/.
#
# The bundled model (Fixtures/models/micro.pt) is the real SAM 2.1 architecture at micro size
# with random weights: it proves the pipeline end to end, but its masks are not meaningful.
# With an official checkpoint, pass it as MODEL=path/to/sam2.1_hiera_tiny.pt.
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh
swift build -c release --product samtrack
bin=.build/release/samtrack
model=${MODEL:-Fixtures/models/micro.pt}
mkdir -p demo

echo "== samtrack info $model"
$bin info "$model"

echo "== synthetic clip: two boxes crossing"
Tools/synth/make_test_clips.sh demo/clips >/dev/null
$bin track demo/clips/two_boxes_256.mp4 --model "$model" \
    --box 1:10,100,60,150 --box 2:190,100,240,150 \
    --output demo/two_boxes --format palette --overlay demo/two_boxes_overlay.mp4

media=../shared/fixtures
if [ -f "$media/bedroom.mp4" ]; then
    echo "== real video: $media/bedroom.mp4 (first 60 frames)"
    $bin track "$media/bedroom.mp4" --model "$model" --max-frames 60 \
        --box 1:300,150,520,500 --point 2:700,300 \
        --output demo/bedroom --overlay demo/bedroom_overlay.mp4
    echo "== photo: $media/truck.jpg"
    $bin segment "$media/truck.jpg" --model "$model" --box 500,400,1300,900 --output demo/truck_mask.png
fi
echo "done: masks and overlays are in demo/ (open demo/*_overlay.mp4 with any video player)"
