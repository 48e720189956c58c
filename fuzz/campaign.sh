#!/usr/bin/env bash
# A fuzz campaign: fuzz/campaign.sh TARGET|all|generate SECONDS [JOBS]
#
# `generate`: the differential check on generated programs, without libFuzzer or coverage
# instrumentation (the release build of fuzz-tool): JOBS processes for SECONDS, process J
# checking stream SEED+J (SEED from $GEN_SEED, else the current Unix time, so that campaigns
# started at least JOBS seconds apart check disjoint programs). Prints the inputs, the
# verified programs checked (each on every engine at every gas limit of its sweep), runs per
# engine, programs/s per process, the outcome kinds, and every failure (divergence, broken gas
# law, panic, crash or hang) with its seed, index and input file (under
# fuzz/artifacts/generate/, readable by `fuzz-tool show` and `save`).
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
what=${1:?usage: campaign.sh TARGET|all|generate SECONDS [JOBS]}
secs=${2:?usage: campaign.sh TARGET|all|generate SECONDS [JOBS]}
jobs=${3:-$(nproc)}
if [ "$what" = generate ]; then
  cargo build --release --example fuzz-tool >/dev/null 2>&1 || { echo "fuzz-tool build failed"; exit 2; }
  tool=target/release/examples/fuzz-tool
  base=${GEN_SEED:-$(date +%s)}
  mkdir -p logs artifacts/generate
  pids=()
  for j in $(seq 0 $((jobs - 1))); do
    # A hang is killed well after the deadline (one input takes seconds at most).
    timeout -s KILL $((${secs%.*} + 300)) "$tool" generate $((base + j)) 4294967296 "$secs" \
      >"logs/generate.$j.log" 2>&1 &
    pids+=($!)
  done
  status=0 inputs=0 programs=0 runs=0 rate=0
  for j in $(seq 0 $((jobs - 1))); do
    wait "${pids[$j]}"; rc=$?
    seed=$((base + j)) log="logs/generate.$j.log"
    line=$(grep '^generate: seed' "$log" | tail -1)
    if [ -n "$line" ]; then
      inputs=$((inputs + $(sed -E 's/.*: ([0-9]+) inputs.*/\1/' <<<"$line")))
      programs=$((programs + $(sed -E 's/.* ([0-9]+) programs,.*/\1/' <<<"$line")))
      runs=$((runs + $(sed -E 's/.* ([0-9]+) runs per engine.*/\1/' <<<"$line")))
      rate=$((rate + $(sed -E 's/.* ([0-9]+) programs\/s.*/\1/' <<<"$line")))
    fi
    if [ "$rc" -eq 1 ]; then
      status=1
      echo "== generate: process $j (seed $seed) found failures ($log):"
      grep -A 80 '^FAILED' "$log" | head -200
    elif [ "$rc" -ne 0 ]; then
      # Killed by a signal (a crash in native code, an abort) or by the timeout (a hang):
      # the input it was checking is named in current-SEED.
      status=1
      echo "== generate: process $j (seed $seed) died (exit status $rc; 137 is the hang timeout) ($log):"
      tail -n 40 "$log"
      cur="artifacts/generate/current-$seed"
      if [ -s "$cur" ]; then
        read -r s i <"$cur"; s=$((10#$s)); i=$((10#$i))
        "$tool" input "$s" "$i" "artifacts/generate/crash-$s-$i" >/dev/null
        echo "the input it was checking: seed $s index $i, saved as fuzz/artifacts/generate/crash-$s-$i"
        echo "  (cargo run --release --example fuzz-tool -- show artifacts/generate/crash-$s-$i)"
      fi
    fi
  done
  echo "outcomes: $(for j in $(seq 0 $((jobs - 1))); do grep -h '^outcomes:' "logs/generate.$j.log"; done | tr ' ' '\n' | grep '=' |
    awk -F= '{n[$1] += $2} END {for (k in n) printf "%s=%d ", k, n[k]}')"
  echo "generate: seeds $base..$((base + jobs - 1)), ${inputs} inputs, ${programs} programs checked in ${secs}s on ${jobs} processes, ${runs} runs per engine, $((rate / jobs)) programs/s per process, failures: $([ $status = 0 ] && echo 0 || echo 'see above')"
  exit $status
fi
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
