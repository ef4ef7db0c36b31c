#!/usr/bin/env bash
# The lever study of docs/erasure-benchmark.md: sepme benchmark over a few styles with each of
# SepME's levers changed from the defaults, on the training wordings only (the defaults are picked
# there), then one table (study.md). Every run resumes: rerun the script after an interruption.
#
#   scripts/benchmark_study.sh [MODEL_FOLDER]      # env: SEPME, OUT, SEEDS, STYLES, RUNS, KEEP
#
# RUNS names the runs to do (default: all of them, in the order below), e.g.
# RUNS="wordings two-wordings" STYLES="solid striped ... zigzag" for the wording study over every style.
# KEEP, a folder (in the repository), keeps each run's finished rows while it runs, as
# scripts/full_benchmark.sh does, so that a study longer than a session resumes on another machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SEPME=${SEPME:-.build/release/sepme}
OUT=${OUT:-benchmark-study}
SEEDS=${SEEDS:-8}
read -r -a STYLES <<< "${STYLES:-checkered dotted striped}"
read -r -a RUNS <<< "${RUNS:-}"
KEEP=${KEEP:-}
source scripts/lib/kept_rows.sh
MODEL=()
if [[ $# -gt 0 ]]; then MODEL=(--model "$1"); fi
mkdir -p "$OUT"

run() {
    local name=$1
    shift
    if [[ ${#RUNS[@]} -gt 0 && " ${RUNS[*]} " != *" $name "* ]]; then return 0; fi
    echo "== $name: $*" >&2
    # Every run draws the same original images (same model, sampling settings and grid): a run
    # starts from the cache file of a finished run (one with its benchmark.json) when there is one.
    local cache=targets/original-images.safetensors done
    if [[ ! -f "$OUT/$name/$cache" ]]; then
        for done in "$OUT"/*/benchmark.json; do
            [[ -f $done && -f "$(dirname "$done")/$cache" ]] || continue
            mkdir -p "$OUT/$name/targets"
            cp "$(dirname "$done")/$cache" "$OUT/$name/$cache"
            break
        done
    fi
    local command=("$SEPME" benchmark "${MODEL[@]}" --styles "${STYLES[@]}" --seeds "$SEEDS" --template-set training
        --compose 0 --output "$OUT/$name" --resume --quiet "$@")
    if [[ -z $KEEP ]]; then
        "${command[@]}" > /dev/null
    else
        copy_rows "$KEEP/$name" "$OUT/$name"
        run_keeping_rows "$OUT/$name" "$KEEP/$name" "${command[@]}" > /dev/null
    fi
}

# The benchmark's default wording is "a {style} {shape}"; the first run erases each target on its
# name alone, the others give the wording explicitly so that every run reads the same.
run name-only --name-only
run wordings --concept-template "a {style} {shape}"
run wordings-protect-styles-tolerance --concept-template "a {style} {shape}" --tolerance 1e-3 \
    --protect "a solid circle" --protect "a diagonal square" --protect "a concentric triangle" --protect "a gradient star" \
    --protect "a zigzag heart" --protect "a speckled cross" --protect "a crosshatched diamond" --protect "an outlined hexagon"
run wordings-protect-colours --concept-template "a {style} {shape}" \
    --protect "a red circle" --protect "a green square" --protect "a blue triangle" --protect "a yellow star"
run wordings-beta-1e-2 --concept-template "a {style} {shape}" --beta 1e-2
run wordings-beta-1e-3 --concept-template "a {style} {shape}" --beta 1e-3
run wordings-tau-1e-5 --concept-template "a {style} {shape}" --tau 1e-5
# The default wording and a second one from the training captions ("a circle in striped style"):
# erased on the default alone, diagonal stays drawn.
run two-wordings --concept-template "a {style} {shape}" --concept-template "a {shape} in {style} style"

scripts/summarize_benchmarks.py "$OUT"/*/benchmark.json | tee "$OUT/study.md"
