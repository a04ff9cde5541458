#!/bin/sh
# Builds Tools/fuzz/.build/checkpoint-fuzzer: the libFuzzer target of CheckpointFuzzer.swift over
# the Checkpoint sources, with AddressSanitizer, overflow and bounds checks (-O, not -Ounchecked).
# Tensor and its C targets come from the normal debug build (not instrumented: the fuzzer's
# coverage is the reader's). Run from anywhere; see Tools/fuzz/README.md for running it.
set -eu
cd "$(dirname "$0")/../.."
swift build --target Tensor
B=.build/debug
OUT=Tools/fuzz/.build
mkdir -p "$OUT"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -use-ld=lld \
    -module-name CheckpointFuzz \
    -I "$B/Modules" \
    -Xcc -fmodule-map-file=Sources/COpenBLAS/module.modulemap \
    -Xcc -fmodule-map-file="$B/CAVX512.build/module.modulemap" \
    -Xcc -fmodule-map-file="$B/CSpin.build/module.modulemap" \
    Sources/Checkpoint/*.swift Tools/fuzz/CheckpointFuzzer.swift \
    "$B"/Tensor.build/*.o "$B"/CAVX512.build/*.o "$B"/CSpin.build/*.o \
    -lopenblas -o "$OUT/checkpoint-fuzzer"
# Seed corpus: every fixture checkpoint as a whole file (prefix 0x00) and its pickle (0x01).
mkdir -p "$OUT/corpus"
for f in Fixtures/checkpoint/*.pt Fixtures/checkpoint/*.safetensors; do
    name=$(basename "$f")
    { printf '\000'; cat "$f"; } > "$OUT/corpus/file-$name"
    python3 - "$f" "$OUT/corpus/pickle-$name" <<'PY' || true
import sys, zipfile
try:
    z = zipfile.ZipFile(sys.argv[1])
except zipfile.BadZipFile:
    sys.exit(0)
for n in z.namelist():
    if n.endswith("data.pkl"):
        open(sys.argv[2], "wb").write(b"\x01" + z.read(n))
        break
PY
done
echo "built $OUT/checkpoint-fuzzer; corpus in $OUT/corpus"
