#!/usr/bin/env bash
# Generates tiny synthetic clips with the ffmpeg CLI's lavfi sources, for tests and benchmarks.
# Outputs are not committed; regenerate them at will (deterministic for a given FFmpeg build).
#
# usage: Tools/synth/make_test_clips.sh [OUT_DIR] [--bench]
#   OUT_DIR   where to write (default: ${TMPDIR:-/tmp}/samtrack-clips)
#   --bench   also make a 1080p version of ../shared/fixtures/cups.mp4 (itself 720p) for
#             decode + preprocessing timings (~14 MB, ~10 s of encoding)
#
# Clips (all 30 fps unless noted):
#   testsrc2_320x240.mp4      2 s   h264 yuv420p, untagged colours (BT.601 by default)
#   moving_box_256.mp4        2 s   red 48x48 box on black, moving right and bobbing (one object)
#   two_boxes_256.mp4         2 s   red and blue boxes crossing each other (two objects, occlusion)
#   moving_box_frames/%05d.png      the moving box as a PNG sequence (image2 input)
#   bt709_fullrange_160x120.mp4     h264 yuv420p tagged BT.709 + full range (colour handling)
#   mjpeg_yuvj420p_322x182.avi      MJPEG, full-range yuvj420p, odd-ish size
#   tone_audio_only.m4a       0.5 s AAC sine, no video (error path)
#   live.ts                   4 s   mpeg2video in MPEG-TS, for udp:// / tcp:// loopback streaming:
#                                   ffmpeg -re -i live.ts -c copy -f mpegts udp://127.0.0.1:5000
set -euo pipefail

out="${TMPDIR:-/tmp}/samtrack-clips"
bench=0
for arg in "$@"; do
    case "$arg" in
        --bench) bench=1 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) out="$arg" ;;
    esac
done
command -v ffmpeg >/dev/null || { echo "ffmpeg is not installed" >&2; exit 1; }
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# Encoders: libx264 when the build has it, else MPEG-4 Part 2.
if ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' libx264 '; then
    venc=(-c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p)
else
    venc=(-c:v mpeg4 -q:v 3 -pix_fmt yuv420p)
fi

ff -f lavfi -i "testsrc2=size=320x240:rate=30:duration=2" "${venc[@]}" "$out/testsrc2_320x240.mp4"

# One object: a red box moving right at 80 px/s and bobbing vertically.
ff -f lavfi -i "color=c=black:size=256x256:rate=30:duration=2" \
   -f lavfi -i "color=c=red:size=48x48:rate=30:duration=2" \
   -filter_complex "[0][1]overlay=x='20+t*80':y='100+30*sin(t*3)':shortest=1" \
   "${venc[@]}" "$out/moving_box_256.mp4"

# Two objects crossing: red left-to-right in front, blue right-to-left behind.
ff -f lavfi -i "color=c=gray:size=256x256:rate=30:duration=2" \
   -f lavfi -i "color=c=blue:size=40x40:rate=30:duration=2" \
   -f lavfi -i "color=c=red:size=56x56:rate=30:duration=2" \
   -filter_complex "[0][1]overlay=x='200-t*90':y=110:shortest=1[bg];[bg][2]overlay=x='10+t*90':y='100+10*sin(t*4)':shortest=1" \
   "${venc[@]}" "$out/two_boxes_256.mp4"

mkdir -p "$out/moving_box_frames"
ff -i "$out/moving_box_256.mp4" -frames:v 30 "$out/moving_box_frames/%05d.png"

ff -f lavfi -i "testsrc2=size=160x120:rate=30:duration=1" "${venc[@]}" \
   -color_range pc -colorspace bt709 -color_primaries bt709 -color_trc bt709 \
   "$out/bt709_fullrange_160x120.mp4"

ff -f lavfi -i "testsrc2=size=322x182:rate=30:duration=1" -c:v mjpeg -pix_fmt yuvj420p \
   "$out/mjpeg_yuvj420p_322x182.avi"

ff -f lavfi -i "sine=frequency=440:duration=0.5" -c:a aac "$out/tone_audio_only.m4a"

ff -f lavfi -i "testsrc2=size=320x240:rate=30:duration=4" -c:v mpeg2video -g 15 -f mpegts "$out/live.ts"

if [ "$bench" = 1 ]; then
    here="$(cd "$(dirname "$0")/../.." && pwd)"
    cups="$here/../shared/fixtures/cups.mp4"
    [ -f "$cups" ] || { echo "missing $cups" >&2; exit 1; }
    ff -i "$cups" -vf scale=1920:1080:flags=bicubic "${venc[@]}" "$out/cups_1080p.mp4"
fi

echo "clips written to $out"
ls -la "$out"
