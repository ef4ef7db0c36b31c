#!/usr/bin/env bash
# Many concepts (issue 18): for K = 6, 12, 18, 24 concepts on the embedded model: SERIES=combos
# (default) takes "a <colour> <shape>" (4 colours × 6 shapes), SERIES=words single attributes
# (shapes, colours and styles taken in turn: "a circle", "red", "striped", ...), with the watermark protected: the plan's tolerance and leak bounds,
# the interference `sepme compose` measures, each concept's erasure with every shift applied, and
# each concept restored (its own shift removed, the other K-1 applied) compared in 8 bits with the
# original model. Resumable: finished plans, shifts and reports are kept; rerun to continue.
#   scripts/many_concepts_study.sh [OUT]        (default OUT: many-concepts)
#   SERIES=combos SEEDS=4 IMAGES=8 ITERATIONS=200 BETA=3e-3 SEPME=.build/release/sepme    (the defaults; β and the
#   iteration budget are the demo's, which erase on the embedded model)
#   KS="6 18 12 24" TOLERANCE=    (the K values run; TOLERANCE, when set, is passed as --tolerance to every
#   plan instead of the plan's own choice, the smallest that leaves every concept a null space)
# Then: python3 scripts/summarize_many_concepts.py OUT
set -euo pipefail
SEPME=${SEPME:-.build/release/sepme}
OUT=${1:-many-concepts}
SEEDS=${SEEDS:-4}
IMAGES=${IMAGES:-8}
ITERATIONS=${ITERATIONS:-200}
BETA=${BETA:-3e-3}
SERIES=${SERIES:-combos}
KS=${KS:-6 18 12 24}
TOLERANCE=${TOLERANCE:-}
all=()
if [ "$SERIES" = words ]; then
    shapes=(circle square triangle star cross heart diamond hexagon)
    colours=(red green blue yellow purple orange white)
    styles=(striped dotted outlined solid checkered zigzag speckled gradient crosshatched)
    for i in 0 1 2 3 4 5 6 7 8; do
        [ $i -lt ${#shapes[@]} ] && all+=("a ${shapes[$i]}")
        [ $i -lt ${#colours[@]} ] && all+=("${colours[$i]}")
        [ $i -lt ${#styles[@]} ] && all+=("${styles[$i]}")
    done
else
    for shape in circle square triangle star cross heart; do
        for colour in red green blue yellow; do all+=("a $colour $shape"); done
    done
fi
for K in $KS; do
    dir="$OUT/k$K"
    concepts=("${all[@]:0:$K}")
    if [ ! -f "$dir/plan.json" ]; then
        args=()
        for c in "${concepts[@]}"; do args+=(--concept "$c"); done
        [ -n "$TOLERANCE" ] && args+=(--tolerance "$TOLERANCE")
        "$SEPME" erase "${args[@]}" --protect "zq watermark" --images "$IMAGES" --max-iterations "$ITERATIONS" --beta "$BETA" \
            --plan-only --output "$dir" --quiet
    fi
    "$SEPME" erase --plan "$dir/plan.json" --quiet
    "$SEPME" compose "$dir" --quiet > "$dir/compose.txt" 2>&1 && echo pass > "$dir/compose.status" || echo fail > "$dir/compose.status"
    shifts=()
    for c in "${concepts[@]}"; do shifts+=("$dir/${c// /-}.sepme.safetensors"); done
    if [ ! -f "$dir/erased/report.json" ]; then
        args=()
        for s in "${shifts[@]}"; do args+=(--shift "$s"); done
        for c in "${concepts[@]}"; do args+=(--concepts "$c"); done
        "$SEPME" eval "${args[@]}" --concepts "zq watermark" --seeds "$SEEDS" --output "$dir/erased" --quiet > /dev/null
    fi
    for i in "${!concepts[@]}"; do
        [ -f "$dir/restored-$i/report.json" ] && continue
        args=()
        for j in "${!shifts[@]}"; do [ "$j" = "$i" ] || args+=(--shift "${shifts[$j]}"); done
        "$SEPME" eval "${args[@]}" --concepts "${concepts[$i]}" --seeds "$SEEDS" --output "$dir/restored-$i" --quiet > /dev/null
    done
    echo "k$K done"
done
