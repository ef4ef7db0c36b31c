# Sourced by scripts/full_benchmark.sh and scripts/benchmark_study.sh: keeps a benchmark's finished
# pieces in the repository, so that a run spread over several sessions (and machines) resumes
# where it stopped.
#
#   copy_rows FROM TO                  # once
#   run_keeping_rows OUT KEPT CMD...   # CMD in the background, OUT's rows copied to KEPT meanwhile
#
# The pieces are JSON rows and reports, never images: `*/targets/*.json`, `benchmark.json`,
# `benchmark.md`, `comparison.json`, `comparison.md`. Each file is copied only when it differs,
# through a temporary file renamed into place.

copy_rows() {
    local from=$1 to=$2
    [[ -d $from ]] || return 0
    (cd "$from" && find . \( -path './*/targets/*.json' -o -path './targets/*.json' -o -name 'benchmark.json' \
        -o -name 'benchmark.md' -o -name 'comparison.json' -o -name 'comparison.md' \) -type f -print0) |
        while IFS= read -r -d '' file; do
            if ! cmp -s "$from/$file" "$to/$file"; then
                mkdir -p "$(dirname "$to/$file")"
                cp "$from/$file" "$to/$file.tmp" && mv "$to/$file.tmp" "$to/$file"
            fi
        done
}

# Runs CMD in the background and copies OUT's rows to KEPT every ${INTERVAL:-60} seconds and when it
# ends; Ctrl-C or TERM interrupts CMD (with INT, which sepme turns into a clean stop), copies what
# it finished and exits 130. Returns CMD's status. A script started in the background by a
# non-interactive shell ignores INT: stop it with TERM.
run_keeping_rows() {
    local out=$1 kept=$2
    shift 2
    "$@" &
    local run=$!
    trap 'kill -INT '"$run"' 2>/dev/null; wait '"$run"'; copy_rows "'"$out"'" "'"$kept"'"; exit 130' INT TERM
    while kill -0 "$run" 2>/dev/null; do
        sleep "${INTERVAL:-60}" &
        wait $! || true
        copy_rows "$out" "$kept"
    done
    local status=0
    wait "$run" || status=$?
    trap - INT TERM
    copy_rows "$out" "$kept"
    return $status
}
