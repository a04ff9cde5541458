#!/usr/bin/env bash
# Runs samtrack's tracker benchmark and the official PyTorch predictor on the same frames, model
# and thread count, one after the other, and prints both with the per-frame ratio.
#
# usage: Tools/bench/compare.sh [--model CKPT] [--input VIDEO] [--frames N] [--objects K] [--threads T]
#   default: the official tiny config with random weights, ../shared/fixtures/bedroom.mp4, 10
#   frames, 1 object, all cores. Needs the reference virtualenv (Tools/reference/venv.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
model="" input=../shared/fixtures/bedroom.mp4 frames=10 objects=1 threads=$(nproc)
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=$2; shift 2 ;; --input) input=$2; shift 2 ;; --frames) frames=$2; shift 2 ;;
        --objects) objects=$2; shift 2 ;; --threads) threads=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
swift build -c release --product samtrack >/dev/null
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
model_args=(--config tiny); [ -n "$model" ] && model_args=(--model "$model")
echo "== samtrack (release), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
.build/release/samtrack bench tracker "${model_args[@]}" --input "$input" --frames "$frames" --objects "$objects" \
    --threads "$threads" | tee "$ours"
echo "== official PyTorch"
Tools/reference/venv.sh python Tools/bench/official_bench.py "${model:-tiny}" "$input" "$frames" "$objects" "$threads" | tee "$theirs"
a=$(awk '/total model/ {print $3}' "$ours"); b=$(awk '/^  total/ {print $2}' "$theirs")
awk -v a="$a" -v b="$b" 'BEGIN { printf "per frame: samtrack %.1f ms, official %.1f ms, speed-up %.2fx\n", a, b, b / a }'
