#!/usr/bin/env bash
# Reproduces docs/results/regular.md: trains every preset under configs/regular/ (or those named
# on the command line, e.g. `scripts/regular_table.sh d4_sdssm parity_check_lstm`), evaluates
# each, and renders the table and plots. Runs go to runs/regular/<preset>; finished runs (with an
# eval.json) are kept, so the script can be interrupted and restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/seqlab}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-runs/regular}
if [ $# -gt 0 ]; then presets=("$@"); else
  presets=(); for f in configs/regular/*.yaml; do presets+=("$(basename "$f" .yaml)"); done
fi
runs=()
for p in "${presets[@]}"; do
  dir="$OUT/$p"
  if [ ! -f "$dir/eval.json" ]; then
    echo "== $p"
    "$BIN" train "regular/$p" --out "$dir" --force --quiet --threads "$THREADS" | tail -n 2
  fi
  runs+=("$dir")
done
"$BIN" report "${runs[@]}" --out "$OUT/report"
