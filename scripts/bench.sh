#!/usr/bin/env bash
# make bench: the Go micro-benchmarks and the load scenarios of issue 10
# (durable acknowledgement at Meta's rates), against `wagw serve` started
# here on a fresh data dir and a fresh database for each scenario, with the
# durable default (KAFKA_EMBEDDED_SYNC=true). Prints a table and writes
# bench/results.json (and every run's report.html next to it). Scenario
# numbers are the issue's target numbers:
#
#   1  Meta's top tier: open loop, 1,000 webhooks/s, realistic mix, 60 s,
#      round robin on (agents, team and welcome set up through the API),
#      verified: ack p99, webhook → assignment committed p99, errors
#   2  5× that: open loop, 5,000 webhooks/s, realistic mix, 60 s, verified:
#      ack p99, errors, consumer drained after the load
#   3  ceiling: closed loop, 64 connections, single-message webhooks over
#      10,000 contacts, against a no-op Fiber handler and against serve,
#      in BENCH_T3_ROUNDS rounds (default 3) of the two one after the
#      other, each serve on a fresh data dir and database: the target
#      holds for the median of the rounds' ratios; a note gives what a
#      request of each run cost the whole machine (µs of busy CPU)
#   4  overload: open loop, 20,000 webhooks/s for 20 s: slowest answer,
#      503 answers (each with Retry-After), peak RSS, every 200 stored;
#      from a generator with up to 20,000 requests in flight, a
#      connection each; then the same generator against the no-op Fiber
#      handler, a reference without a target: when a handler that only
#      answers 200 is not answered within 1 s either, no handler meets
#      the target with this generator on this machine
#   4p the same load from a generator that keeps at most 4,096 requests
#      in flight, serve's connection cap (WAGW_HTTP_MAX_CONNS): a pooled
#      client, none of whose connections is refused
#   5  memory over time: 1,000,000 webhooks (open loop at 5,000/s) through
#      serve: RSS at the end and peak
#   6  consumer ceiling: 10,000 messages/s in batches of 10, verified
#   6r consumer replay: serve without its consumer (WAGW_CONSUMER_WORKERS=0)
#      takes BENCH_S6_MESSAGES messages in webhooks of BENCH_S6R_BATCH over
#      BENCH_CONTACTS contacts (round robin set up first, agents kept
#      online by a heartbeat); then serve restarts on the same data dir
#      and database with its consumer, which drains the filled topic:
#      stored and assigned per second, verified; CPU per message noted
#   7  the handler's CPU per webhook: BenchmarkWebhookHandler (micro)
#
# Durations and rates come from the environment, so a quick run is
#   BENCH_QUICK=1 make bench          (10 s per scenario, 100,000 webhooks in 5)
# or any of BENCH_T1_DURATION, BENCH_T1_RATE, BENCH_T2_DURATION,
# BENCH_T2_RATE, BENCH_T3_DURATION (each run of a round), BENCH_T3_ROUNDS, BENCH_T4_DURATION, BENCH_T4_RATE,
# BENCH_T5_REQUESTS, BENCH_T5_RATE, BENCH_S6_DURATION, BENCH_S6_RATE,
# BENCH_S6_BATCH, BENCH_S6_MESSAGES, BENCH_S6R_BATCH, BENCH_CONTACTS,
# BENCH_MICRO_TIME, BENCH_SCENARIOS (e.g. "1 2 6r"), BENCH_PPROF (a file: a
# CPU profile of serve over the first BENCH_PPROF_SECONDS (8) of scenario 6r's drain), BENCH_DIR, WAGW_BIN, BENCH_EMBEDDED_SYNC (false: acknowledge from
# the page cache), BENCH_SKIP_RELAY, WAGW_BENCH_OUTAGE (the relay drain
# benchmark's outage, default 60s), BENCH_SKIP_MICRO (no micro and store
# benchmarks). Load goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

WAGW=${WAGW_BIN:-bin/wagw}
OUT=${BENCH_DIR:-bench}
if [ -n "${BENCH_QUICK:-}" ]; then q=10s; q5=100000; else q=; q5=; fi
T1=${BENCH_T1_DURATION:-${q:-60s}}
T1_RATE=${BENCH_T1_RATE:-1000}
T2=${BENCH_T2_DURATION:-${q:-60s}}
T2_RATE=${BENCH_T2_RATE:-5000}
T3=${BENCH_T3_DURATION:-${q:-15s}}
T3_ROUNDS=${BENCH_T3_ROUNDS:-3}
T4=${BENCH_T4_DURATION:-${q:-20s}}
T4_RATE=${BENCH_T4_RATE:-20000}
T5_REQUESTS=${BENCH_T5_REQUESTS:-${q5:-1000000}}
T5_RATE=${BENCH_T5_RATE:-5000}
S6=${BENCH_S6_DURATION:-${q:-60s}}
S6_RATE=${BENCH_S6_RATE:-10000}
S6_BATCH=${BENCH_S6_BATCH:-10}
CONTACTS=${BENCH_CONTACTS:-10000}
MICRO_TIME=${BENCH_MICRO_TIME:-1s}
S6_MESSAGES=${BENCH_S6_MESSAGES:-${q:+60000}}
S6_MESSAGES=${S6_MESSAGES:-240000}
S6R_BATCH=${BENCH_S6R_BATCH:-20}
SCENARIOS=${BENCH_SCENARIOS:-1 2 3 4 4p 5 6 6r}
HTTP_PORT=${BENCH_HTTP_PORT:-18080}
NOOP_PORT=${BENCH_NOOP_PORT:-18090}
KAFKA_PORT=${BENCH_KAFKA_PORT:-19092}
SIM_PORT=${BENCH_SIM_PORT:-18081}
PG_BASE=${BENCH_PG_BASE:-postgres://postgres@127.0.0.1:5432}

SECRET=bench-app-secret
ADMIN=bench-admin-token
TMP=$(mktemp -d -t wagw-bench.XXXXXX)
RUN_TAG=$(date +%s)
DBS=()
PIDS=()
NOTES=()
RSS_ARGS=()
T3_ARGS=() # -t3-rounds once scenario 3 ran: a round without its reports is a run missing

say() { printf '\n== %s\n' "$*"; }

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if command -v psql >/dev/null; then
    for db in "${DBS[@]}"; do
      psql "$PG_BASE/postgres?sslmode=disable" -qAtc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -x "$WAGW" ]; then
  echo "no $WAGW: run 'make build' first (or set WAGW_BIN)" >&2
  exit 1
fi
if ! "$WAGW" loadtest -h >/dev/null 2>&1; then
  echo "$WAGW has no loadtest command" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"

wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

SERVE_PID=
DB_URL=
# start_serve NAME [VAR=VALUE...]: serve on the data dir and database of
# NAME (the same ones again when NAME was started before), with the
# settings given added.
start_serve() {
  local name=$1 db="wagw_bench_${RUN_TAG}_$1"
  shift
  DB_URL="$PG_BASE/$db?sslmode=disable"
  DBS+=("$db")
  mkdir -p "$TMP/data-$name"
  env WAGW_HTTP_ADDR=127.0.0.1:$HTTP_PORT KAFKA_EMBEDDED_ADDR=127.0.0.1:$KAFKA_PORT \
    WAGW_SIMULATOR_ADDR=127.0.0.1:$SIM_PORT WAGW_DATA_DIR="$TMP/data-$name" DATABASE_URL="$DB_URL" \
    WA_APP_SECRET=$SECRET WA_VERIFY_TOKEN=bench-verify WAGW_ADMIN_TOKEN=$ADMIN WAGW_LOG_LEVEL=warn \
    KAFKA_EMBEDDED_SYNC=${BENCH_EMBEDDED_SYNC:-true} KAFKA_BROKERS= "$@" "$WAGW" serve >>"$OUT/serve-$name.log" 2>&1 &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  if ! wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 60; then
    echo "serve did not become ready; see $OUT/serve-$name.log" >&2
    tail -20 "$OUT/serve-$name.log" >&2
    exit 1
  fi
}

# cpu_s PID...: the CPU seconds (user + system) the processes used so far.
cpu_s() {
  local tck pid sum=0
  tck=$(getconf CLK_TCK)
  for pid in "$@"; do
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  awk -v t="$sum" -v k="$tck" 'BEGIN { printf "%.2f", t / k }'
}

# replay_cpu T0 MESSAGES: waits (polling a count every 2 s, at most 15
# minutes) until serve has stored MESSAGES inbound messages, then notes the wall time since T0 and
# the CPU seconds of serve and of the Postgres backends serving its
# database, per message: the consumer's cost, robust on a busy machine.
replay_cpu() {
  local t0=$1 want=$2 db n=0 t1 pids serve_cpu pg_cpu
  db=${DB_URL##*/}
  db=${db%%\?*}
  local deadline=$((SECONDS + 900))
  while ((n < want && SECONDS < deadline)); do
    sleep 2
    n=$(psql "$DB_URL" -qAtc "SELECT count(*) FROM messages WHERE direction = 'in'" 2>/dev/null || echo 0)
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then break; fi
  done
  t1=$(date +%s.%N)
  pids=$(psql "$PG_BASE/postgres?sslmode=disable" -qAtc "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" 2>/dev/null | tr '\n' ' ')
  serve_cpu=$(cpu_s "$SERVE_PID")
  # shellcheck disable=SC2086
  pg_cpu=$(cpu_s $pids)
  local line
  line=$(awk -v n="$n" -v t0="$t0" -v t1="$t1" -v s="$serve_cpu" -v p="$pg_cpu" 'BEGIN {
    w = t1 - t0
    printf "replay: %d messages stored %.1f s after serve started (%.0f msg/s, serve start-up included); CPU: serve %.1f s, its Postgres backends %.1f s: %.0f + %.0f = %.0f µs per message", n, w, n / w, s, p, s * 1e6 / n, p * 1e6 / n, (s + p) * 1e6 / n }')
  echo "$line" | tee "$OUT/s6-replay/cpu.txt"
  NOTES+=("s6-$line")
}

# keep_online: every 30 s, heartbeats every agent online through the API,
# as their consoles do, so that they stay eligible (online needs a
# heartbeat within 5 minutes) through a long fill and replay. Runs until
# killed; the minutes serve is down between the two halves are skipped.
keep_online() {
  local id
  while sleep 30; do
    for id in $(curl -fsS -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$HTTP_PORT/v1/agents" 2>/dev/null | jq -r '.agents[].id' 2>/dev/null); do
      curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$HTTP_PORT/v1/agents/$id/presence" \
        -d '{"status":"online"}' 2>/dev/null || true
    done
  done
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

NOOP_PID=
start_noop() {
  "$WAGW" loadtest noop -addr 127.0.0.1:$NOOP_PORT >>"$OUT/noop.log" 2>&1 &
  NOOP_PID=$!
  PIDS+=("$NOOP_PID")
  wait_http "http://127.0.0.1:$NOOP_PORT/healthz" 20 || { echo "no-op handler did not start" >&2; exit 1; }
}

# lt NAME ARGS...: one load test run whose report goes to $OUT/NAME. A
# failed verification is recorded in the table, not fatal.
lt() {
  local name=$1
  shift
  say "$name: wagw loadtest $*"
  if ! env WA_APP_SECRET=$SECRET WAGW_ADMIN_TOKEN=$ADMIN DATABASE_URL="${DB_URL:-}" \
    "$WAGW" loadtest "$@" -out "$OUT/$name" -name "$name"; then
    NOTES+=("$name: the run reported a failure (see $OUT/$name/report.html)")
  fi
}

single=(-profile single -contacts "$CONTACTS")
NOTES+=("load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)")

# cpu_ticks: the machine's CPU ticks so far: all, idle (with the time idle
# while waiting for the disk), steal (the time a virtual machine's host
# gave its CPUs to others). guest time is already counted in user.
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; printf "%.0f %.0f %.0f\n", t, $5 + $6, $9 }' /proc/stat; }
# cpu_since T0: the idle and steal shares of the machine's CPU time since
# cpu_ticks printed T0.
cpu_since() {
  local now
  now=$(cpu_ticks)
  awk -v a="$1" -v b="$now" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[1] - x[1]; if (t <= 0) t = 1
    printf "CPU idle %.0f %%, steal %.0f %%", 100 * (y[2] - x[2]) / t, 100 * (y[3] - x[3]) / t }'
}

# per_request T0 NAME: the machine's busy CPU time (neither idle nor
# stolen) since cpu_ticks printed T0, in µs per request answered 200 in
# run NAME: what a request costs every process on the machine together.
per_request() {
  local now ok
  now=$(cpu_ticks)
  ok=$(jq -r '.run.ok' "$OUT/$2/report.json" 2>/dev/null || echo 0)
  awk -v a="$1" -v b="$now" -v n="$ok" -v hz="$(getconf CLK_TCK)" 'BEGIN { split(a, x, " "); split(b, y, " ")
    if (n <= 0) { print "?"; exit }
    printf "%.0f", ((y[1] - x[1]) - (y[2] - x[2]) - (y[3] - x[3])) / hz * 1e6 / n }'
}

if [ -z "${BENCH_SKIP_MICRO:-}" ]; then
  say "micro-benchmarks: go test ./whatsapp ./broker -run '^\$' -bench . -benchmem -benchtime $MICRO_TIME"
  T0=$(cpu_ticks)
  if ! go test ./whatsapp ./broker -run '^$' -bench . -benchmem -benchtime "$MICRO_TIME" | tee "$OUT/micro.txt"; then
    NOTES+=("the micro-benchmarks failed (see $OUT/micro.txt)")
  fi
  say "store benchmarks: go test ./db -run '^\$' -bench Apply -benchtime 20x"
  go test ./db -run '^$' -bench Apply -benchtime 20x | tee "$OUT/store.txt" || NOTES+=("the store benchmarks failed (see $OUT/store.txt)")
  NOTES+=("micro and store benchmarks: $(cpu_since "$T0")")
fi
if [ -z "${BENCH_SKIP_RELAY:-}" ]; then
  say "relay benchmarks: go test ./relay -run '^\$' -bench Relay -benchtime 1x (outage ${WAGW_BENCH_OUTAGE:-60s})"
  go test ./relay -run '^$' -bench Relay -benchtime 1x -timeout 20m | tee "$OUT/relay.txt" || NOTES+=("the relay benchmarks failed (see $OUT/relay.txt)")
fi

# reset_hwm and rss_kb FIELD: the peak RSS of serve over one scenario
# (VmHWM after a reset), and its RSS now (VmRSS).
reset_hwm() {
  echo 5 >"/proc/$SERVE_PID/clear_refs" 2>/dev/null || NOTES+=("could not reset VmHWM; peak RSS covers serve's whole life")
}
rss_kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$SERVE_PID/status" 2>/dev/null || echo 0; }
setup_rr() { # round robin with 4 agents, or a note
  if ! "$WAGW" loadtest setup -api http://127.0.0.1:$HTTP_PORT -token $ADMIN -agents 4 -strategy round_robin >/dev/null; then
    NOTES+=("$1: the admin API could not set up agents, team and inbox")
    return 1
  fi
}

# overload NAME INFLIGHT: scenario 4 (and 4p) with the generator keeping
# at most INFLIGHT requests in flight. 503s are the expected answer to
# what wagw cannot take: not a failure of the run; the table judges them.
overload() {
  start_serve "$1"
  reset_hwm
  lt "$1-serve" run -url 127.0.0.1:$HTTP_PORT -rate "$T4_RATE" -duration "$T4" "${single[@]}" -max-inflight "$2" -timeout 5s \
    -max-errors 100% -verify sql -settle 180s
  RSS_ARGS+=(-rss "$1-peak=$(rss_kb VmHWM)")
  stop_pid "$SERVE_PID"
}

# overload_noop NAME INFLIGHT: scenario 4's load against the no-op handler.
overload_noop() {
  start_noop
  lt "$1-noop" run -url 127.0.0.1:$NOOP_PORT -rate "$T4_RATE" -duration "$T4" "${single[@]}" -max-inflight "$2" -timeout 5s \
    -max-errors 100% -verify none -quiet
  stop_pid "$NOOP_PID"
}

for s in $SCENARIOS; do
  SECONDS=0
  T0=$(cpu_ticks)
  case $s in
  1)
    start_serve t1
    assign=(-expect-assigned -expect-welcome)
    setup_rr "scenario 1" || assign=()
    lt t1-serve run -url 127.0.0.1:$HTTP_PORT -rate "$T1_RATE" -duration "$T1" -contacts "$CONTACTS" -verify sql -settle 120s "${assign[@]}"
    stop_pid "$SERVE_PID"
    ;;
  2)
    start_serve t2
    lt t2-serve run -url 127.0.0.1:$HTTP_PORT -rate "$T2_RATE" -duration "$T2" -contacts "$CONTACTS" -verify sql -settle 180s
    stop_pid "$SERVE_PID"
    ;;
  3)
    # Rounds of the no-op handler then serve: the machine's speed drifts
    # over minutes, and each ratio compares runs a few seconds apart.
    # Each round also notes what a request cost the whole machine
    # (generator included) in each run: when the machine is as busy in
    # both, the ratio of those costs is about the ratio of the
    # throughputs, and says how much cheaper a request of serve must get.
    for ((r = 1; r <= T3_ROUNDS; r++)); do
      start_noop
      t=$(cpu_ticks)
      lt "t3-noop-$r" run -url 127.0.0.1:$NOOP_PORT -closed -connections 64 -duration "$T3" "${single[@]}" -verify none -quiet
      noop_us=$(per_request "$t" "t3-noop-$r")
      stop_pid "$NOOP_PID"
      start_serve "t3-$r"
      t=$(cpu_ticks)
      lt "t3-serve-$r" run -url 127.0.0.1:$HTTP_PORT -closed -connections 64 -duration "$T3" "${single[@]}" -verify none -quiet
      NOTES+=("scenario 3 round $r: the machine's CPU per request: no-op $noop_us µs, serve $(per_request "$t" "t3-serve-$r") µs")
      stop_pid "$SERVE_PID"
    done
    T3_ARGS=(-t3-rounds "$T3_ROUNDS")
    ;;
  4)
    overload t4 20000
    overload_noop t4 20000
    ;;
  4p) overload t4p "${WAGW_HTTP_MAX_CONNS:-4096}" ;;
  5)
    start_serve t5
    reset_hwm
    lt t5-serve run -url 127.0.0.1:$HTTP_PORT -rate "$T5_RATE" -requests "$T5_REQUESTS" "${single[@]}" -verify none -quiet
    RSS_ARGS+=(-rss "t5-end=$(rss_kb VmRSS)" -rss "t5-peak=$(rss_kb VmHWM)")
    stop_pid "$SERVE_PID"
    ;;
  6)
    start_serve s6
    setup_rr "scenario 6" || true
    posts=$(awk -v r="$S6_RATE" -v b="$S6_BATCH" 'BEGIN { printf "%.0f", r / b }')
    lt s6-max run -url 127.0.0.1:$HTTP_PORT -rate "$posts" -duration "$S6" "${single[@]}" \
      -batch-share 1 -batch-min "$S6_BATCH" -batch-max "$S6_BATCH" -verify sql -settle 300s
    stop_pid "$SERVE_PID"
    ;;
  6r)
    start_serve s6r WAGW_CONSUMER_WORKERS=0
    # No -expect-welcome: a welcome is skipped, by rule, for an opening
    # message older than 10 minutes, which a long fill and replay reach.
    assign=(-expect-assigned -max-spread 1)
    if ! "$WAGW" loadtest setup -api http://127.0.0.1:$HTTP_PORT -token $ADMIN -agents 4 -strategy round_robin >/dev/null; then
      NOTES+=("scenario 6: the admin API could not set up agents, team and inbox: ran without assignment checks")
      assign=()
    fi
    keep_online &
    ONLINE_PID=$!
    PIDS+=("$ONLINE_PID")
    posts=$(((S6_MESSAGES + S6R_BATCH - 1) / S6R_BATCH))
    lt s6-replay run -url 127.0.0.1:$HTTP_PORT -closed -connections 16 -requests "$posts" "${single[@]}" \
      -batch-share 1 -batch-min "$S6R_BATCH" -batch-max "$S6R_BATCH" -verify none -quiet
    stop_pid "$SERVE_PID"
    say "s6-replay: serve again on the filled topic, with its consumer (load: $(uptime | sed 's/.*load/load/'))"
    t0=$(date +%s.%N)
    if [ -n "${BENCH_PPROF:-}" ]; then
      start_serve s6r WAGW_PPROF_ADDR=127.0.0.1:${BENCH_PPROF_PORT:-16060}
      curl -fsS -o "$BENCH_PPROF" "http://127.0.0.1:${BENCH_PPROF_PORT:-16060}/debug/pprof/profile?seconds=${BENCH_PPROF_SECONDS:-8}" &
      PIDS+=("$!")
    else
      start_serve s6r
    fi
    replay_cpu "$t0" "$(jq -r '.run.messages' "$OUT/s6-replay/report.json")"
    say "s6-replay: wagw loadtest verify -dir $OUT/s6-replay -verify sql -settle 900s ${assign[*]}"
    if ! env DATABASE_URL="$DB_URL" "$WAGW" loadtest verify -dir "$OUT/s6-replay" -verify sql -settle 900s "${assign[@]}"; then
      NOTES+=("s6-replay: the verification reported a failure (see $OUT/s6-replay/report.html)")
    fi
    say "s6-replay: done (load: $(uptime | sed 's/.*load/load/'))"
    stop_pid "$ONLINE_PID"
    stop_pid "$SERVE_PID"
    ;;
  *)
    echo "unknown scenario $s" >&2
    exit 1
    ;;
  esac
  NOTES+=("scenario $s took ${SECONDS} s; $(cpu_since "$T0")")
done

say "results"
NOTES+=("load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)")
note_args=()
for n in "${NOTES[@]}"; do note_args+=(-note "$n"); done
"$WAGW" loadtest table -dir "$OUT" -micro "$OUT/micro.txt" "${T3_ARGS[@]}" "${RSS_ARGS[@]}" -o "$OUT/results.json" \
  -command "${BENCH_COMMAND:-make bench}" \
  -durations "t1=$T1@${T1_RATE}/s,t2=$T2@${T2_RATE}/s,t3=${T3_ROUNDS}x$T3,t4=$T4@${T4_RATE}/s,t4p=$T4@${T4_RATE}/s×${WAGW_HTTP_MAX_CONNS:-4096},t5=${T5_REQUESTS}@${T5_RATE}/s,s6=$S6@${S6_RATE}msg/s,s6r=${S6_MESSAGES}msg/${S6R_BATCH}per-webhook,contacts=$CONTACTS" \
  "${note_args[@]}"
