#!/usr/bin/env bash
# Every benchmark, compiled (the figures are for the code as it runs in production).
# Usage: npm run bench [-- name ...]   e.g. npm run bench -- sip; BENCH_QUICK=1 for the short modes;
#        npm run bench -- report   docs/benchmarks.md from the figures saved by the last runs
set -u
cd "$(dirname "$0")/.."
bash scripts/peers.sh || true
npm run build >/dev/null || { echo "build failed"; exit 1; }
names=("$@")
[ ${#names[@]} -eq 0 ] && names=($(ls bench/*.bench.ts | xargs -n1 basename | sed 's/\.bench\.ts$//'))
status=0
for n in "${names[@]}"; do
  # report: docs/benchmarks.md from the figures the benches saved (bench/report.ts); runs no bench
  if [ "$n" = report ]; then node dist/bench/report.js || status=1; continue; fi
  echo "== bench $n"
  node --expose-gc "dist/bench/$n.bench.js" || status=1
done
exit $status
