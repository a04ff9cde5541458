#!/usr/bin/env bash
# The fine-tuning gain on a domain the default model was never trained on (issue 30, item 5):
#   1. TRAIN_CLIPS clips of one of the training generator's fine-tuning domains (DOMAIN: "halo", objects
#      with a dark rim the ground truth leaves out, seeds 5050000..; or "camo", low-contrast objects,
#      seeds 5000000..; Tools/synth/synth.py --difficulty DOMAIN) written as a DAVIS folder (JPEG
#      frames, palette PNGs);
#   2. `samtrack finetune` of MODEL on them (prompt encoder and mask decoder; image encoder frozen);
#   3. Tools/eval/eval.py on EVAL_CLIPS held-out clips of the domain (halo 5950000.., camo 5900000..), for MODEL (samtrack
#      only unless BEFORE_ARGS is empty: its agreement with the official predictor is established in
#      Fixtures/models/README.md) and for the fine-tuned checkpoint (samtrack and the official
#      predictor side by side), each prompt of PROMPTS.
# Everything goes under WORK; before.json, after.json and finetune.log hold the results.
#   Tools/eval/finetune_gain.sh                        # the defaults below
#   DOMAIN=camo STEPS=600 EVAL_CLIPS=10 PROMPTS=box Tools/eval/finetune_gain.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${SAMTRACK_VENV:-Tools/reference/.venv}/bin/python
BIN=${SAMTRACK_BIN:-.build/release/samtrack}
MODEL=${MODEL:-Fixtures/models/synth.pt}
DOMAIN=${DOMAIN:-halo}
case $DOMAIN in
    halo) TRAIN_SEED=5050000 ;;
    camo) TRAIN_SEED=5000000 ;;
    *) echo "finetune_gain.sh: DOMAIN must be halo or camo" >&2; exit 2 ;;
esac
WORK=${WORK:-${TMPDIR:-/tmp}/samtrack-finetune-gain-$DOMAIN}
TRAIN_CLIPS=${TRAIN_CLIPS:-64}
TRAIN_FRAMES=${TRAIN_FRAMES:-24}
STEPS=${STEPS:-800}
LR=${LR:-2e-4}
CORRECTIONS=${CORRECTIONS:-1}
HOLDOUT=${HOLDOUT:-0.15}
EVAL_CLIPS=${EVAL_CLIPS:-20}
PROMPTS=${PROMPTS:-mask,box,click}
THREADS=${THREADS:-2}
EVAL_ARGS=${EVAL_ARGS:-}   # more eval.py options for both models
BEFORE_ARGS=${BEFORE_ARGS---skip-official}

[ -x "$BIN" ] || { echo "finetune_gain.sh: no samtrack at $BIN (swift build -c release, or SAMTRACK_BIN)" >&2; exit 2; }
[ -x "$PY" ] || { echo "finetune_gain.sh: no reference venv at $PY (Tools/reference/venv.sh)" >&2; exit 2; }
mkdir -p "$WORK"

davis="$WORK/davis"
if [ ! -f "$davis/.complete" ]; then
    echo "== $TRAIN_CLIPS $DOMAIN clips of $TRAIN_FRAMES frames (seeds $TRAIN_SEED..) -> $davis"
    rm -rf "$WORK/clips" "$davis"
    "$PY" Tools/synth/synth.py --out "$WORK/clips" --seed "$TRAIN_SEED" --clips "$TRAIN_CLIPS" \
        --frames "$TRAIN_FRAMES" --difficulty "$DOMAIN" >/dev/null
    for clip in "$WORK"/clips/clip_*; do
        seq=$(basename "$clip")
        mkdir -p "$davis/JPEGImages/$seq" "$davis/Annotations/$seq"
        ffmpeg -loglevel error -i "$clip/video.mp4" -start_number 0 -q:v 2 "$davis/JPEGImages/$seq/%05d.jpg"
        cp "$clip"/gt/*.png "$davis/Annotations/$seq/"
    done
    touch "$davis/.complete"
fi

tuned="$WORK/finetuned.pt"
echo "== samtrack finetune: $STEPS steps at lr $LR -> $tuned"
start=$(date +%s)
"$BIN" finetune --model "$MODEL" --data "$davis" --output "$tuned" --steps "$STEPS" \
    --lr-decoder "$LR" --lr-prompt-encoder "$LR" --warmup 20 --eval-every 200 --seed 1 \
    --corrections "$CORRECTIONS" --holdout "$HOLDOUT" \
    --threads "$THREADS" 2>&1 | stdbuf -oL tr '\r' '\n' | grep --line-buffered -v '^encoding frames' | tee "$WORK/finetune.log"
echo "fine-tuning took $(( $(date +%s) - start )) s"

for which in before after; do
    model=$MODEL; extra=$BEFORE_ARGS
    [ "$which" = after ] && { model=$tuned; extra=; }
    echo "== held-out $DOMAIN clips, $which fine-tuning ($model)"
    # shellcheck disable=SC2086
    SAMTRACK_BIN=$BIN "$PY" Tools/eval/eval.py --model "$model" --set "$DOMAIN" --count "$EVAL_CLIPS" \
        --prompt "$PROMPTS" --threads "$THREADS" --samtrack-threads "$THREADS" --json "$WORK/$which.json" $EVAL_ARGS $extra
done
