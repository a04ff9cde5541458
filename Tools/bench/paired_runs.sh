#!/bin/bash
# paired_runs.sh: two samtrack builds timed at the same time, one thread each, one stage, so both see
# the same host (on a shared VM, alternating runs of one build can spread by 20%).
#
#   Tools/bench/paired_runs.sh N BUILD_A BUILD_B [bench tracker arguments...]
#
# Runs `BUILD bench tracker --threads 1 ARGS` for A and B side by side (SAMTRACK_PIPELINE=0), N
# times, and prints each pair's wall per frame, its per-stage milliseconds and B/A. Run it N times
# with A and B swapped as well: the two processes do not always get equal cores. Pause anything
# else that computes (a training run: kill -STOP) for the duration.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,10p "$0"; exit 2; }
n=$1; a=$2; b=$3; shift 3
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
stage() { awk -v name="$1" 'index($0, "  " name " ") == 1 { for (i = 1; i <= NF; i++) if ($i == "ms") { print $(i - 1); exit } }' "$2"; }
wall() { grep -oE 'wall per frame +[0-9.]+' "$1" | awk '{print $4}'; }
for i in $(seq "$n"); do
  SAMTRACK_PIPELINE=0 "$a" bench tracker --threads 1 "$@" > "$dir/a" 2>&1 & pa=$!
  SAMTRACK_PIPELINE=0 "$b" bench tracker --threads 1 "$@" > "$dir/b" 2>&1 & pb=$!
  wait "$pa" "$pb"
  for r in a b; do
    printf '%s wall %s (encoder %s, memory attention %s, memory encoder %s) | ' "$r" "$(wall "$dir/$r")" \
      "$(stage encoder "$dir/$r")" "$(stage 'memory attention' "$dir/$r")" "$(stage 'memory encoder' "$dir/$r")"
  done
  python3 -c "import sys; print('B/A %.3f' % (float(sys.argv[2]) / float(sys.argv[1])))" "$(wall "$dir/a")" "$(wall "$dir/b")"
done
