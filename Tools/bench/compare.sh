#!/usr/bin/env bash
# samtrack against the official PyTorch predictor, side by side in one run: the same frames
# (bedroom.mp4 through ffmpeg's bicubic scale), the same model and the same thread count. Prints
# each measurement as it comes, then the table of issue 8 (official, samtrack, target).
#
# usage: Tools/bench/compare.sh [--rows LIST] [--threads T] [--input VIDEO] [--tiny-frames N]
#            [--objects-frames N] [--bf16-frames N] [--small-frames N] [--long-frames N]
#            [--latency-frames N] [--samtrack BINARY]
#   --samtrack: a samtrack release binary to time (default: `swift build -c release` and
#              .build/release/samtrack)
#   rows (default all, comma-separated):
#     tiny     SAM 2.1 tiny (random weights), 1024 px, 1 object: per frame and RSS after 60 frames
#     objects  the same with 3 objects
#     bf16     bf16: the official autocast mode and samtrack --precision bf16 (AVX-512 BF16 only),
#              and samtrack's bf16 masks against its fp32 masks (mean IoU; default model on the
#              bundled clip Fixtures/clips/clip_700002)
#     512      tiny at 512 px (RoPE grid 32 x 32), 1 object
#     long     RSS over 10,000 frames (samtrack) / 1,000 frames (official, which keeps every frame
#              and output in memory) with the default model (Fixtures/models/synth.pt, 256 px), on
#              one long stream: the input repeated by ffmpeg without re-encoding (-stream_loop,
#              -c copy), so the run is one decoder session as a long video or a camera is, not
#              the benchmark's reopen-at-the-end loop (each reopen starts new decoder threads)
#     latency  p99 / median frame latency over 1,000 frames, default model, on the long stream
#              (as the long row: reopening the video every 200 frames put its decoder start-up in
#              the tail)
#     decode   decode + preprocess of a 1080p frame (cups.mp4 scaled to 1920x1080; samtrack only), to
#              the default model's 256 px input and to tiny's 1024 px one
# Needs the reference virtualenv (Tools/reference/venv.sh) and ../shared/fixtures. The default
# run takes about 45 minutes on 2 cores; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=tiny,objects,bf16,512,long,latency,decode threads=$(nproc) input=../shared/fixtures/bedroom.mp4
samtrack=
tiny_frames=60 objects_frames=10 bf16_frames=4 small_frames=20 long_frames=10000 latency_frames=1000
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=$2 ;; --threads) threads=$2 ;; --input) input=$2 ;;
        --tiny-frames) tiny_frames=$2 ;; --objects-frames) objects_frames=$2 ;; --bf16-frames) bf16_frames=$2 ;;
        --small-frames) small_frames=$2 ;; --long-frames) long_frames=$2 ;; --latency-frames) latency_frames=$2 ;;
        --samtrack) samtrack=$2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
wants() { [[ ",$rows," == *",$1,"* ]]; }
if [ -z "$samtrack" ]; then
    swift build -c release --product samtrack >/dev/null
    samtrack=.build/release/samtrack
fi
synth=Fixtures/models/synth.pt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ours() {  # name, samtrack bench arguments...
    local name=$1; shift
    echo "== samtrack: $name"
    "$samtrack" bench "$@" --threads "$threads" | tee "$work/ours_$name"
}
theirs() {  # name, official_bench.py arguments...
    local name=$1; shift
    echo "== official: $name"
    Tools/reference/venv.sh python Tools/bench/official_bench.py "$@" 2>/dev/null | tee "$work/theirs_$name"
}
# samtrack's time between consecutive frames' results ("wall per frame"; with the pipelined loop the
# stages of two frames overlap, so their sum, "total model", is not the rate); older builds: the sum.
per_frame_ours() { awk '/wall per frame/ {w=$4} /total model/ {t=$3} END {if (w != "") print w; else if (t != "") print t}' "$work/ours_$1" 2>/dev/null || true; }
per_frame_theirs() { awk '/^  total/ {print $2}' "$work/theirs_$1" 2>/dev/null || true; }
rss_at() { awk -v f="$2:" '$1 == "frame" && $2 == f {print $4}' "$work/$1" 2>/dev/null || true; }
latency_ratio() { sed -n 's/.*(p99\/median \([0-9.]*\)).*/\1/p' "$work/$1" 2>/dev/null || true; }

echo "samtrack $($samtrack --version), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $threads threads"
grep -m1 "model name" /proc/cpuinfo || true
if wants tiny; then
    ours tiny tracker --config tiny --input "$input" --frames "$tiny_frames" --memory-at 60
    theirs tiny tiny "$input" "$tiny_frames" 1 "$threads" --memory-at 60
fi
if wants objects; then
    ours objects tracker --config tiny --input "$input" --frames "$objects_frames" --objects 3 --memory-at 0
    theirs objects tiny "$input" "$objects_frames" 3 "$threads" --memory-at 0
fi
if wants bf16; then
    if grep -qw avx512_bf16 /proc/cpuinfo; then
        ours bf16 tracker --config tiny --input "$input" --frames "$bf16_frames" --precision bf16 --memory-at 0
        clip=Fixtures/clips/clip_700002
        for precision in fp32 bf16; do
            "$samtrack" track "$clip/video.mp4" --model "$synth" --mask "1:$clip/masks/1.png" --mask "2:$clip/masks/2.png" \
                --mask "3:$clip/masks/3.png" --format palette --output "$work/masks_$precision" --quiet \
                --precision "$precision" --threads "$threads"
        done
        Tools/reference/venv.sh python Tools/bench/mask_agreement.py "$work/masks_fp32" "$work/masks_bf16" \
            | tee "$work/ours_bf16_iou"
    fi
    theirs bf16 tiny "$input" "$bf16_frames" 1 "$threads" --bf16 --memory-at 0
fi
if wants 512; then
    ours 512 tracker --config tiny --image-size 512 --input "$input" --frames "$small_frames" --memory-at 0
    theirs 512 tiny "$input" "$small_frames" 1 "$threads" --image-size 512 --memory-at 0
fi
long_stream() {  # the input repeated without re-encoding to at least $1 frames -> $work/long.mp4
    local input_frames
    input_frames=$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
        -of csv=p=0 "$input")
    ffmpeg -v error -y -stream_loop $(( $1 / input_frames )) -i "$input" -map 0:v:0 -c copy "$work/long.mp4"
}
if wants long; then
    long_stream "$long_frames"
    ours long tracker --model "$synth" --input "$work/long.mp4" --frames "$long_frames" --memory-at "60,1000,$long_frames"
    official_long=$(( long_frames < 1000 ? long_frames : 1000 ))
    theirs long "$synth" "$work/long.mp4" "$official_long" 1 "$threads" --memory-at "60,$official_long"
fi
if wants latency; then
    long_stream "$latency_frames"
    ours latency tracker --model "$synth" --input "$work/long.mp4" --frames "$latency_frames" --memory-at 0
    theirs latency "$synth" "$work/long.mp4" "$latency_frames" 1 "$threads" --memory-at 0
fi
if wants decode; then
    ffmpeg -v error -y -i ../shared/fixtures/cups.mp4 -vf scale=1920:1080 -c:v libx264 -preset fast \
        -pix_fmt yuv420p "$work/cups1080.mp4"
    echo "== samtrack: decode (256 px, the default model's input)"
    "$samtrack" bench decode --input "$work/cups1080.mp4" --frames 250 --image-size 256 | tee "$work/ours_decode256"
    echo "== samtrack: decode (1024 px)"
    "$samtrack" bench decode --input "$work/cups1080.mp4" --frames 250 | tee "$work/ours_decode"
fi

# The table: each cell is what this run measured ("-" = not measured in this run; a row left
# out with --rows has no file, which the helpers read as empty).
cell() { [ -n "${1:-}" ] && echo "$1" || echo "-"; }
ms_to_s() { [ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.2f s", v / 1000 }' || echo "-"; }
ratio() { [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo "-"; }
growth() {  # first last -> "first -> last MiB (+x.x%)"
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f -> %.0f MiB (%+.1f%%)", a, b, (b - a) / a * 100 }' || echo "-"
}
bf16_cpu=$(grep -qw avx512_bf16 /proc/cpuinfo && echo "this CPU has avx512_bf16" || echo "this CPU has no avx512_bf16")
echo
echo "| figure | official PyTorch | samtrack | official / samtrack | target |"
echo "| --- | --- | --- | --- | --- |"
a=$(per_frame_theirs long); b=$(per_frame_ours long)
echo "| default model (256 px), per frame, mean of $long_frames (official: ${official_long:-?}) | $(cell "${a:+$a ms}") | $(cell "${b:+$b ms}") | $(ratio "$a" "$b") | <= 33 ms (30 frames/s) |"
a=$(per_frame_theirs tiny); b=$(per_frame_ours tiny)
echo "| tiny 1024 px, 1 object, fp32, per frame ($tiny_frames frames) | $(ms_to_s "$a") | $(ms_to_s "$b") | $(ratio "$a" "$b") | <= 2.6 s; samtrack / official <= 0.85 on AVX2 |"
a=$(per_frame_theirs objects); b=$(per_frame_ours objects)
echo "| tiny 1024 px, 3 objects, fp32, per frame | $(ms_to_s "$a") | $(ms_to_s "$b") | $(ratio "$a" "$b") | <= 6.0 s |"
a=$(per_frame_theirs bf16); b=$(per_frame_ours bf16)
if [ -z "$b" ] && ! grep -qw avx512_bf16 /proc/cpuinfo; then b_cell="no bf16 ($bf16_cpu)"; else b_cell=$(ms_to_s "$b"); fi
echo "| bf16 mode, 1 object, per frame ($bf16_frames frames) | $(ms_to_s "$a") | $b_cell | $(ratio "$a" "$b") | <= 1.3 s |"
b=$(awk '/mean IoU/ {gsub(",", "", $3); print $3}' "$work/ours_bf16_iou" 2>/dev/null || true)
echo "| bf16 masks vs fp32, mean IoU (default model, bundled clip) | - | $(cell "$b") | - | >= 0.99 |"
a=$(per_frame_theirs 512); b=$(per_frame_ours 512)
echo "| tiny at 512 px, 1 object, fp32, per frame | $(ms_to_s "$a") | $(ms_to_s "$b") | $(ratio "$a" "$b") | <= 0.3 s |"
a=$(rss_at theirs_tiny 60); b=$(rss_at ours_tiny 60)
echo "| resident memory after 60 frames (tiny 1024 px) | $(cell "${a:+$a MiB}") | $(cell "${b:+$b MiB}") | - | <= 600 MiB |"
a=$(growth "$(rss_at theirs_long 60)" "$(rss_at theirs_long "${official_long:-0}")")
b=$(growth "$(rss_at ours_long 60)" "$(rss_at ours_long "$long_frames")")
echo "| resident memory, frame 60 -> ${official_long:-?} (official) / $long_frames (samtrack), default model | $a | $b | - | flat within 2% |"
a=$(latency_ratio theirs_latency); b=$(latency_ratio ours_latency)
echo "| p99 / median frame latency over $latency_frames frames, default model | $(cell "$a") | $(cell "$b") | - | <= 1.25 |"
b=$(awk '/per frame:/ {print $3}' "$work/ours_decode256" 2>/dev/null || true)
echo "| decode + preprocess of a 1080p frame to 256 px (default model; wall, decoded ahead) | - | $(cell "${b:+$b ms}") | - | < 8 ms |"
b=$(awk '/per frame:/ {print $3}' "$work/ours_decode" 2>/dev/null || true)
echo "| decode + preprocess of a 1080p frame to 1024 px (wall, decoded ahead) | - | $(cell "${b:+$b ms}") | - | < 10 ms |"
