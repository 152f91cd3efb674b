#!/usr/bin/env bash
# `make bench-peers`: keypool's hot path against two rate limiters of other ecosystems doing the
# same work (README.md), in one run, as a table of ns/request (wall and CPU time) and of each
# program's ratio to keypool at the same thread count.
#
#   benchmarks/peers/run.sh [build-dir]      (default: build-bench, configured by the bench preset,
#                                             with keypool_bench built)
# PEERS_MIN_TIME: seconds each benchmark measures (default 1). The JSON reports, Google
# Benchmark's shape for all three programs, are left in <build-dir>/benchmarks/peers/.
# Exits non-zero when a program fails to build, ends with an error, or reports a benchmark error.
# The ratios are reported, not checked: a loaded machine moves them, and a performance claim comes
# from reading a run, not from a test.
set -euo pipefail

source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="${1:-build-bench}"
min_time="${PEERS_MIN_TIME:-1}"
out_dir="$build_dir/benchmarks/peers"
keypool_bench="$build_dir/benchmarks/keypool_bench"

if [[ ! -x "$keypool_bench" ]]; then
  echo "bench-peers: $keypool_bench is missing: cmake --preset bench && cmake --build --preset bench --target keypool_bench" >&2
  exit 1
fi
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

failures=()
for peer in go guava; do
  if ! cmake -D "PEER=$peer" -D "OUT_DIR=$out_dir" -P "$source_dir/build.cmake"; then
    failures+=("peer_$peer (build)")
  fi
done

# run <label> <report> <command...>: runs one program, its console output shown; a failure is
# recorded and the others still run.
run() {
  local label="$1" report="$2"
  shift 2
  rm -f "$report"
  echo
  echo "==> bench-peers: $label"
  if ! "$@"; then
    failures+=("$label")
  fi
}

# keypool: the hot path on 10 keys (1 and 2 threads) and the floor any design with a word per
# limit pays (a clock read and three CAS), the same filter as their rows in docs/performance.md.
run keypool_bench "$out_dir/keypool.json" "$keypool_bench" \
  '--benchmark_filter=^(BM_AcquireCommit/keys:10|BM_Reference_Floor_Clock3CAS)(/real_time)?(/threads:2)?$' \
  "--benchmark_min_time=$min_time" "--benchmark_out=$out_dir/keypool.json" --benchmark_out_format=json
if [[ -x "$out_dir/peer_go" ]]; then
  run peer_go "$out_dir/peer_go.json" "$out_dir/peer_go" "-min_time=${min_time}s" -warmup=200ms \
    -threads=1,2 -variants=allow,reserve "-out=$out_dir/peer_go.json"
fi
if [[ -x "$out_dir/peer_guava" ]]; then
  run peer_guava "$out_dir/peer_guava.json" "$out_dir/peer_guava" "-min_time=$min_time" -warmup=1 \
    -threads=1,2 "-out=$out_dir/peer_guava.json"
fi

# One row per benchmark: name, threads, real_time, cpu_time (ns), error flag. Google Benchmark's
# JSON and the peers' write one field per line, which is all this reads; time_unit must be ns.
rows="$(for report in "$out_dir"/keypool.json "$out_dir"/peer_go.json "$out_dir"/peer_guava.json; do
  [[ -s "$report" ]] && cat "$report"
done | awk '
  function text(line) { sub(/^[^:]*: *"?/, "", line); sub(/"?,? *$/, "", line); return line }
  /^ *"name":/           { name = text($0); threads = 1; real = ""; cpu = ""; unit = ""; error = 0 }
  /^ *"threads":/        { threads = text($0) }
  /^ *"real_time":/      { real = text($0) }
  /^ *"cpu_time":/       { cpu = text($0) }
  /^ *"time_unit":/      { unit = text($0) }
  /^ *"error_occurred":/ { error = (text($0) == "true") }
  /^ *}/ && name != "" {
    if (!error && (unit != "ns" || real == "" || cpu == "")) error = 1
    printf "%s\t%s\t%s\t%s\t%d\n", name, threads, real, cpu, error
    name = ""
  }')"

# The table: wall time per request (as Google Benchmark's Time column) and CPU time per request
# (every thread's, summed), each with its ratio to BM_AcquireCommit/keys:10 at the same thread
# count. On a machine shared with other work the CPU ratio moves less: waiting for a core is not
# counted in it.
echo
summary="$(awk -F '\t' '
  { name[NR] = $1; threads[NR] = $2; real[NR] = $3; cpu[NR] = $4; error[NR] = $5
    if ($1 ~ /^BM_AcquireCommit\// && !$5) { keypool_real[$2] = $3; keypool_cpu[$2] = $4 } }
  function ratio(value, base) { return base > 0 ? sprintf("%.2f", value / base) : "-" }
  END {
    format = "%-62s %7s %10s %9s %10s %9s\n"
    printf format, "benchmark (ns per request; x: to keypool at the same threads)", "threads", "wall", "x", "cpu", "x"
    for (i = 1; i <= NR; ++i) {
      if (error[i]) { printf format, name[i], threads[i], "ERROR", "-", "-", "-"; bad = 1; continue }
      t = threads[i]
      printf format, name[i], t, sprintf("%.1f", real[i]), ratio(real[i], keypool_real[t]),
             sprintf("%.1f", cpu[i]), ratio(cpu[i], keypool_cpu[t])
      if (name[i] ~ /^Peer_/ && keypool_real[t] > 0 && keypool_cpu[t] > 0) {
        peer = name[i]; sub(/\/.*/, "", peer)
        wall_ratio = real[i] / keypool_real[t]; cpu_ratio = cpu[i] / keypool_cpu[t]
        if (!(peer in lowest_wall) || wall_ratio < lowest_wall[peer]) lowest_wall[peer] = wall_ratio
        if (!(peer in lowest_cpu) || cpu_ratio < lowest_cpu[peer]) lowest_cpu[peer] = cpu_ratio
      }
    }
    printf "\nkeypool against each peer (the smaller ratio of its 1- and 2-thread runs):\n"
    for (peer in lowest_wall)
      printf "  %-36s %5.1fx faster in wall time, %5.1fx in CPU time%s\n", peer, lowest_wall[peer], lowest_cpu[peer],
             (lowest_wall[peer] >= 10 && lowest_cpu[peer] >= 10 ? "" : "  (below the 10x goal in this run)")
    exit bad
  }' <<<"$rows")" || failures+=("a benchmark reported an error")
printf '%s\n' "$summary"

if ((${#failures[@]} > 0)); then
  printf 'bench-peers: FAILED: %s\n' "$(IFS=,; echo "${failures[*]}")" >&2
  exit 1
fi
