#!/usr/bin/env bash
# A fuzz campaign: fuzz/campaign.sh TARGET|all SECONDS [JOBS]
#
# Runs each target (one after the other for `all`) for SECONDS on JOBS processes (default:
# every core), each a libFuzzer instance on the shared corpus fuzz/corpus/TARGET seeded from
# fuzz/seeds/TARGET. Prints, per target: executions (for `differential`, programs checked:
# each on every engine at every gas limit of its sweep), executions per second per process,
# coverage (libFuzzer's `cov` edges and `ft` features), corpus size, and every crash with
# its report (for `differential`, the program as readable assembly) and the artifact path.
# Exits with 1 if any target crashed. Works on stable Rust: `cargo fuzz ... -s none`.
set -uo pipefail
cd "$(dirname "$0")"
TARGETS="differential asm codec verify datavalue store"
what=${1:?usage: campaign.sh TARGET|all SECONDS [JOBS]}
secs=${2:?usage: campaign.sh TARGET|all SECONDS [JOBS]}
jobs=${3:-$(nproc)}
[ "$what" = all ] && list=$TARGETS || list=$what
# One build of every target first (instrumented for coverage, no sanitizer, release).
cargo fuzz build -s none >/dev/null 2>&1 || { echo "cargo fuzz build failed"; exit 2; }
# The seeds are committed (fuzz/seeds/); `cargo run --release --example fuzz-tool -- seeds`
# rewrites them after examples or regressions change.
status=0
for t in $list; do
  mkdir -p "corpus/$t" "artifacts/$t" "logs"
  pids=()
  for i in $(seq 1 "$jobs"); do
    cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -timeout=60 -rss_limit_mb=4096 \
      -artifact_prefix="artifacts/$t/" >"logs/$t.$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  execs=0 rate=0 cov=0 ft=0 crashes=0
  for i in $(seq 1 "$jobs"); do
    log="logs/$t.$i.log"
    e=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    r=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    c=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    f=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    execs=$((execs + ${e:-0})); rate=$((rate + ${r:-0}))
    [ "${c:-0}" -gt "$cov" ] && cov=$c
    [ "${f:-0}" -gt "$ft" ] && ft=$f
    # (A slow unit is written out too, as slow-unit-*: reported by libFuzzer, not a crash.)
    if grep -q -E '^==[0-9]+== ERROR|panicked at|deadly signal|Test unit written to .*/(crash|timeout|oom|leak)-' "$log"; then
      crashes=$((crashes + 1))
      echo "== $t: process $i found a problem ($log):"
      grep -A 60 -E 'panicked at' "$log" | head -80
      grep -E 'Test unit written to' "$log"
    fi
  done
  corpus=$(find "corpus/$t" -type f | wc -l)
  echo "$t: ${execs} executions in ${secs}s on ${jobs} processes, $((rate / jobs)) exec/s per process, cov ${cov} ft ${ft}, corpus ${corpus}, crashes ${crashes}"
  [ "$crashes" -gt 0 ] && status=1
done
exit $status
