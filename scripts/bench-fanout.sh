#!/usr/bin/env bash
# Fan-out timelines (issue #8) against the pull query, on ONE database seeded with --preset 1m
# (PostgreSQL + Redis), in one run on this machine:
#   setup  a median user (the seed's median follow count), a user following 5,000 more accounts
#          (follows through the API, so counters and the outbox are the real ones), and a new
#          author followed by $FOLLOWERS seeded accounts (also through the API);
#   wrk    warm GET /feed first page for both users, and warm GET /posts?limit=20, with
#          FEED_STRATEGY=pull and then =fanout (a minute apart);
#   fanout every follower's timeline built (each reads its feed once), then the author posts
#          once: feed_fanout_seconds and the time until the last follower's timeline holds it;
#   mix    the socialscale-load mix climb of scripts/bench-scale.sh, pull and fanout alternating
#          at each rate (a server restart between), each climb stopping at its first rate with
#          p99 >= 50 ms or errors; timeline writes/s from feed_timeline_writes_total;
#   memory MEMORY USAGE / OBJECT ENCODING of a sample of the run's timelines, extrapolated.
#
#   cargo build --release -p server -p loadtest && scripts/bench-fanout.sh   # about 25 minutes
#   RATES="1500 2000" KEEP_DB=1 scripts/bench-fanout.sh
#   MIX_DATABASE_URL=postgres://…/db scripts/bench-fanout.sh   # a database seeded --preset 1m
#                                                             # (kept; setup adds to it)
#
# Needs psql, python3, wrk, PostgreSQL on PG_ADMIN (a role that may CREATE DATABASE) and Redis
# on REDIS_URL (keys under a prefix unique to the run, deleted at the end; never flushed).
# Every load targets 127.0.0.1 and ends by itself. Tokens of the $FOLLOWERS followers are signed
# here with the server's JWT_SECRET (the same HS256 token a login returns) instead of 10,000
# argon2 logins; the two measured users and the mix's pool log in through the API.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"1000 1500 1750 2000 2500"}
MIX_STAGES=${MIX_STAGES:-"5s:%d,30s:%d"}
FOLLOWERS=${FOLLOWERS:-10000}
HEAVY_FOLLOWS=${HEAVY_FOLLOWS:-5000}
WRK_ARGS=${WRK_ARGS:-"-t2 -c64 -d10s --latency"}
SAMPLE=${SAMPLE:-300}
# A smaller seed for a dry run of the script itself, e.g. SEED_ARGS="--users 20000" SEED_USERS=20000.
SEED_ARGS=${SEED_ARGS:-"--preset 1m"}
SEED_USERS=${SEED_USERS:-1000000}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
PORT=${PORT:-3393}
BIN=${BIN:-target/release/socialscale}
LOAD=${LOAD:-target/release/socialscale-load}
RUN=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-bench-results/fanout-$RUN}
PREFIX="fanout${RUN}x$RANDOM:"
SECRET=bench-secret-bench-secret-bench-secret
for tool in "$BIN" "$LOAD"; do
  [ -x "$tool" ] || { echo "build first: cargo build --release -p server -p loadtest"; exit 1; }
done
for tool in psql python3 wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed"; exit 1; }
done
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
URL="http://127.0.0.1:$PORT"
PY="$OUT/client.py"

stamp() { date -u +%H:%M:%S; }
t_stage=$SECONDS
stage() { # name: prints the previous stage's duration and starts the next
  echo "-- stage took $((SECONDS - t_stage)) s"
  t_stage=$SECONDS
  echo "== $(stamp) $*"
}

pid=
db_url=
made_db=
stop_server() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
cleanup() {
  stop_server
  [ -f "$PY" ] && python3 "$PY" redis-delete "$REDIS" "$PREFIX" || true
  if [ -n "$made_db" ] && [ -z "${KEEP_DB:-}" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $made_db WITH (FORCE)" >/dev/null || true
  elif [ -n "$made_db" ]; then
    echo "database kept: $db_url"
  fi
}
trap cleanup EXIT

start_server() { # label strategy
  local label=$1 strategy=$2
  env PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn TRUSTED_PROXIES=127.0.0.1 \
    DATABASE_URL="$db_url" REDIS_URL="$REDIS" DB_MAX_CONNECTIONS=16 \
    FEED_STRATEGY="$strategy" JWT_SECRET=$SECRET \
    RATE_LIMIT_GENERAL=100000000/30s RATE_LIMIT_POST=100000000/30s \
    RATE_LIMIT_LOGIN=100000000/60s RATE_LIMIT_SIGNUP=100000000/60s \
    REDIS_KEY_PREFIX="$PREFIX" "$BIN" >"$OUT/server-$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -sf "$URL/health/liveness" >/dev/null && return 0
    sleep 0.1
  done
  echo "server $label did not start; see $OUT/server-$label.log"; exit 1
}
sql() { psql "$db_url" -Atqc "$1"; }
metric() { # name (a counter, gauge or summary line as rendered): its value, 0 if absent
  curl -s "$URL/metrics" | awk -v m="$1" '$1 == m {v = $2} END {print v + 0}'
}
login() { # email: a bearer token
  curl -sf "$URL/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"seed-password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
wrk_row() { # label url [token]: one table row (req/s, p50, p99, non-2xx)
  local label=$1 url=$2 token=${3:-} f
  f="$OUT/wrk-$(printf %s "$label" | tr -c 'A-Za-z0-9_-' _).txt"
  curl -sf -o /dev/null ${token:+-H "Authorization: Bearer $token"} "$url" # warm: one read first
  # shellcheck disable=SC2086 # WRK_ARGS is a list of flags
  TOKEN=$token wrk $WRK_ARGS ${token:+-s scripts/wrk/get_auth.lua} "$url" >"$f" 2>&1
  awk -v l="$label" '
    /Requests\/sec/ {rps = $2}
    $1 == "50.000%" {p50 = $2} $1 == "99.000%" {p99 = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /Non-2xx/ {bad = $NF}
    END {printf "| %s | %.0f | %s | %s | %d |\n", l, rps, p50, p99, bad}' "$f" | tee -a "$OUT/wrk.md"
}

# The helper: HTTP in bulk over keep-alive connections, token signing, Redis over RESP.
cat >"$PY" <<'PY'
import base64, hashlib, hmac, http.client, json, socket, sys, threading, time, urllib.parse

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def mint(secret, sub):
    now = int(time.time())
    head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    body = b64(json.dumps({"sub": sub, "iat": now, "exp": now + 86400, "iat_ms": now * 1000}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"

def bulk(port, method, jobs, threads):
    """jobs: (token, path); returns ({status: count}, seconds)."""
    counts, lock, it = {}, threading.Lock(), iter(jobs)
    def work():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                job = next(it, None)
            if job is None: return
            token, path = job
            try:
                c.request(method, path, headers={"Authorization": "Bearer " + token, "Content-Length": "0"})
                r = c.getresponse(); r.read(); s = r.status
            except Exception:
                c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); s = "error"
            with lock: counts[s] = counts.get(s, 0) + 1
    t0 = time.time()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    return counts, time.time() - t0

class Redis:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379))
        self.f = self.s.makefile("rb")
    def send(self, cmds):
        out = bytearray()
        for c in cmds:
            out += b"*%d\r\n" % len(c)
            for a in c:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return [self.read() for _ in cmds]
    def read(self):
        line = self.f.readline()[:-2]; t, rest = line[:1], line[1:]
        if t in (b"+", b"-"): return rest.decode()
        if t == b":": return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0: return None
            v = self.f.read(n + 2)[:-2]; return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(line)
    def scan(self, pattern):
        cur = b"0"
        while True:
            cur, keys = self.send([["SCAN", cur, "MATCH", pattern, "COUNT", 1000]])[0]
            yield from keys
            if cur == b"0": return

def uid_bytes(u): return bytes.fromhex(u.replace("-", ""))

def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "mint":  # secret < ids > tokens
        for line in sys.stdin:
            if line.strip(): print(mint(a[0], line.strip()))
    elif cmd == "bulk":  # port method path-template threads < "token<TAB>arg": status counts
        jobs = [tuple(l.rstrip("\n").split("\t")) for l in sys.stdin if l.strip()]
        jobs = [(t, a[2].replace("{}", x)) for t, x in jobs]
        counts, secs = bulk(int(a[0]), a[1], jobs, int(a[3]))
        print(f"{len(jobs)} x {a[1]} {a[2]}: {counts} in {secs:.1f} s ({len(jobs) / secs:.0f}/s)")
    elif cmd == "post-watch":  # port redis prefix token author followers-file timeout
        port, url, prefix, token, author, ffile, timeout = a
        followers = [l.strip() for l in open(ffile) if l.strip()]
        r = Redis(url)
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        t0 = time.time()
        c.request("POST", "/posts", body=json.dumps({"content": "fan-out probe"}),
                  headers={"Authorization": "Bearer " + token, "content-type": "application/json"})
        resp = c.getresponse(); body = json.loads(resp.read()); t201 = time.time()
        member = uid_bytes(body["id"]) + uid_bytes(author)
        keys = [f"{prefix}tl:{{{f}}}" for f in followers]
        rounds, first = 0, None
        while True:
            got = r.send([["ZSCORE", k, member] for k in keys])
            have = sum(g is not None for g in got); rounds += 1
            if first is None: first = (have, time.time() - t201)
            if have == len(keys) or time.time() - t201 > float(timeout): break
        done = time.time() - t201
        print(f"POST /posts {resp.status} in {(t201 - t0) * 1000:.1f} ms; first Redis check "
              f"{first[1] * 1000:.0f} ms after the 201: {first[0]} of {len(keys)} timelines held it; "
              f"{have} of {len(keys)} after {done * 1000:.0f} ms ({rounds} checks)")
        print(f"post {body['id']}")
    elif cmd == "feed-has":  # port post-id < tokens: how many first pages show the post
        jobs = [l.strip() for l in sys.stdin if l.strip()]
        c, n = http.client.HTTPConnection("127.0.0.1", int(a[0]), timeout=30), 0
        for t in jobs:
            c.request("GET", "/feed?limit=20", headers={"Authorization": "Bearer " + t})
            page = json.loads(c.getresponse().read())
            n += any(p.get("id") == a[1] for p in page.get("posts", []))
        print(f"{n} of {len(jobs)} sampled followers' first pages show the post")
    elif cmd == "memory":  # redis prefix sample cap
        url, prefix, sample, cap = a[0], a[1], int(a[2]), int(a[3])
        r = Redis(url)
        keys = list(r.scan(prefix + "tl:*"))
        step = max(1, len(keys) // sample)
        picked = keys[::step][:sample]
        rows = []
        for k in picked:
            user = k[len(prefix) + 3:]
            mem, enc, card, smem, fmem = r.send([["MEMORY", "USAGE", k, "SAMPLES", "0"],
                ["OBJECT", "ENCODING", k], ["ZCARD", k],
                ["MEMORY", "USAGE", prefix.encode() + b"tls:" + user, "SAMPLES", "0"],
                ["MEMORY", "USAGE", prefix.encode() + b"fg:" + user, "SAMPLES", "0"]])
            rows.append((card, mem or 0, enc.decode() if enc else "-", smem or 0, fmem or 0))
        n = len(rows)
        print(f"{len(keys)} timelines under the prefix; {n} sampled")
        by = {}
        for card, mem, enc, smem, fmem in rows:
            by.setdefault(enc, []).append((card, mem))
        print("| encoding | timelines | mean entries | mean bytes | bytes per entry |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for enc, v in sorted(by.items()):
            ce = sum(c for c, _ in v) / len(v); me = sum(m for _, m in v) / len(v)
            print(f"| {enc} | {len(v)} | {ce:.0f} | {me:.0f} | {me / max(ce, 1):.1f} |")
        mean_card = sum(x[0] for x in rows) / n
        mean_tl = sum(x[1] for x in rows) / n
        mean_state = sum(x[3] for x in rows) / n
        mean_fg = sum(x[4] for x in rows) / n
        sk = [(c, m) for c, m, e, _, _ in rows if e == "skiplist"]
        per_entry = (sum(m for _, m in sk) / sum(c for c, _ in sk)) if sk else 0
        print(f"mean stored length {mean_card:.0f}; per timeline: tl {mean_tl:.0f} B, "
              f"tls {mean_state:.0f} B, fg {mean_fg:.0f} B")
        print(f"1,000,000 timelines at the mean length: "
              f"{(mean_tl + mean_state + mean_fg) * 1e6 / 2**30:.1f} GiB")
        if per_entry:
            print(f"skiplist bytes per entry {per_entry:.1f}: 1,000,000 timelines at the cap "
                  f"({cap}): {(per_entry * cap + mean_state + mean_fg) * 1e6 / 2**30:.1f} GiB")
    elif cmd == "redis-delete":  # url prefix
        r = Redis(a[0]); n = 0
        keys = list(r.scan(a[1] + "*"))
        for i in range(0, len(keys), 500):
            r.send([["UNLINK", *keys[i:i + 500]]]); n += len(keys[i:i + 500])
        print(f"deleted {n} Redis keys under {a[1]}")
    elif cmd == "mix-row":  # json strategy rate
        r = json.load(open(a[0]))
        step = lambda n: next((s for s in r["steps"] if s["name"] == n), {"latency": {}})
        t = r["total"]; fr = (r.get("freshness") or {}).get("latency", {})
        print(f"| {a[2]} | {a[1]} | {t['rps']:.0f} | {t['latency'].get('p99_ms', 0):.1f} ms "
              f"| {step('feed')['latency'].get('p99_ms', 0):.1f} ms "
              f"| {fr.get('p50_ms', 0):.1f} / {fr.get('p99_ms', 0):.1f} ms | {t['errors']} |")

main()
PY

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); shared with" \
  "other work; results in $OUT; Redis prefix $PREFIX"
echo "== $(stamp) start"

db_url=${MIX_DATABASE_URL:-}
if [ -z "$db_url" ]; then
  made_db=ss_fanout_$(date -u +%H%M%S)
  psql "$PG_ADMIN" -qc "CREATE DATABASE $made_db" >/dev/null
  db_url="${PG_ADMIN%/*}/$made_db"
  stage "seed $SEED_ARGS into PostgreSQL ($made_db)"
  # shellcheck disable=SC2086 # SEED_ARGS is a list of flags
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$BIN" seed $SEED_ARGS --database-url "$db_url" \
    2>&1 | tee "$OUT/seed-1m.txt"
fi

stage "setup: users, follows (server at FEED_STRATEGY=pull)"
start_server setup pull
median=$(sql "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY following_count) FROM users")
# Two ordinary accounts at the median follow count: one measured as is, one given 5,000 more.
mapfile -t pick < <(sql "SELECT id || ' ' || email FROM users WHERE following_count = $median
  AND posts_count > 0 ORDER BY id LIMIT 2")
read -r med_id med_email <<<"${pick[0]}"
read -r heavy_id heavy_email <<<"${pick[1]}"
med_token=$(login "$med_email")
heavy_token=$(login "$heavy_email")
sql "SELECT id FROM users TABLESAMPLE SYSTEM (2) WHERE id NOT IN ('$heavy_id', '$med_id')
  AND id NOT IN (SELECT following_id FROM follows WHERE follower_id = '$heavy_id')
  LIMIT $HEAVY_FOLLOWS" | sed "s/^/$heavy_token\t/" \
  | python3 "$PY" bulk "$PORT" POST "/users/follow/{}" 16 | tee "$OUT/setup.txt"
echo "median follow count $median; median user $med_email ($med_id);" \
  "heavy user $heavy_email ($heavy_id) follows $(sql "SELECT following_count FROM users WHERE id = '$heavy_id'")" \
  | tee -a "$OUT/setup.txt"
read -r author_id author_token < <(curl -sf "$URL/auth/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"fanout-author-$RANDOM@example.com\",\"password\":\"fanout-author-pw\",\"username\":\"fanout_author_$RANDOM\"}" \
  | python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["user"]["id"], r["token"])')
sql "SELECT id FROM users TABLESAMPLE SYSTEM (3) WHERE id NOT IN ('$heavy_id', '$med_id')
  LIMIT $FOLLOWERS" >"$OUT/followers.txt"
python3 "$PY" mint "$SECRET" <"$OUT/followers.txt" >"$OUT/follower-tokens.txt"
paste "$OUT/follower-tokens.txt" <(yes "$author_id" | head -n "$FOLLOWERS") \
  | python3 "$PY" bulk "$PORT" POST "/users/follow/{}" 16 | tee -a "$OUT/setup.txt"
echo "author $author_id has $(sql "SELECT followers_count FROM users WHERE id = '$author_id'") followers" \
  | tee -a "$OUT/setup.txt"
stop_server

echo "| strategy / endpoint (wrk $WRK_ARGS, warm) | req/s | p50 | p99 | non-2xx |" | tee "$OUT/wrk.md"
echo "| --- | ---: | ---: | ---: | ---: |" | tee -a "$OUT/wrk.md"
for strategy in pull fanout; do
  stage "wrk with FEED_STRATEGY=$strategy"
  start_server "wrk-$strategy" "$strategy"
  wrk_row "$strategy: GET /posts?limit=20" "$URL/posts?limit=20"
  wrk_row "$strategy: GET /feed, median user ($median follows)" "$URL/feed?limit=20" "$med_token"
  wrk_row "$strategy: GET /feed, user following $((median + HEAVY_FOLLOWS))" "$URL/feed?limit=20" "$heavy_token"
  [ "$strategy" = fanout ] || stop_server
done

stage "fan-out: build $FOLLOWERS followers' timelines (one first-page read each), then one post"
python3 "$PY" bulk "$PORT" GET "/feed?limit=20" 16 < <(sed 's/$/\tx/' "$OUT/follower-tokens.txt") \
  | tee "$OUT/fanout.txt"
echo "rebuilds so far: $(metric feed_rebuilds_total); outbox backlog $(metric feed_outbox_backlog)," \
  "stream lag $(metric feed_stream_lag)" | tee -a "$OUT/fanout.txt"
python3 "$PY" post-watch "$PORT" "$REDIS" "$PREFIX" "$author_token" "$author_id" \
  "$OUT/followers.txt" 30 | tee -a "$OUT/fanout.txt"
probe=$(awk '/^post / {print $2}' "$OUT/fanout.txt")
shuf -n 200 --random-source=<(yes) "$OUT/follower-tokens.txt" | python3 "$PY" feed-has "$PORT" "$probe" \
  | tee -a "$OUT/fanout.txt"
curl -s "$URL/metrics" | grep -E '^feed_(fanout_seconds|timeline_writes_total|events_handled_total)' \
  | tee -a "$OUT/fanout.txt"
stop_server

echo "| rate | strategy | achieved req/s | all p99 | feed p99 | freshness p50 / p99 | errors |" >"$OUT/mix.md"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |" >>"$OUT/mix.md"
echo "| rate | timeline writes | writes/s | events handled | rebuilds | timeline reads | fanout p50 / p99 / max s |" >"$OUT/mix-writes.md"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |" >>"$OUT/mix-writes.md"
alive="pull fanout"
best_pull=none
best_fanout=none
for rate in $RATES; do
  [ -n "$alive" ] || break
  # shellcheck disable=SC2059 # the stages are a printf template on purpose
  stages=$(printf "$MIX_STAGES" "$rate" "$rate")
  still=
  for strategy in $alive; do
    stage "mix at $rate req/s, FEED_STRATEGY=$strategy, $stages"
    start_server "mix-$strategy-$rate" "$strategy"
    t0=$SECONDS
    if "$LOAD" mix --url "$URL" --seed 1 --seed-users "$SEED_USERS" --pool 1000 \
      --stages "$stages" --quiet --threshold 'p99<50ms' --threshold 'errors<=0%' \
      --json "$OUT/mix-$strategy-$rate.json" >"$OUT/mix-$strategy-$rate.txt" 2>&1; then
      still="$still $strategy"
      eval "best_$strategy=$rate"
    fi
    secs=$((SECONDS - t0))
    python3 "$PY" mix-row "$OUT/mix-$strategy-$rate.json" "$strategy" "$rate" | tee -a "$OUT/mix.md"
    if [ "$strategy" = fanout ]; then
      sleep 2 # the workers finish the last posts' fan-out
      m=$(curl -s "$URL/metrics")
      get() { awk -v n="$1" '$1 == n {v = $2} END {print v + 0}' <<<"$m"; }
      writes=$(get feed_timeline_writes_total)
      events=$(awk '/^feed_events_handled_total/ {s += $2} END {print s + 0}' <<<"$m")
      echo "| $rate | $writes | $((writes / secs)) (over the run's $secs s incl. pool logins) | $events" \
        "| $(get feed_rebuilds_total) | $(get feed_timeline_reads_total)" \
        "| $(get 'feed_fanout_seconds{quantile="0.5"}') / $(get 'feed_fanout_seconds{quantile="0.99"}')" \
        "/ $(get 'feed_fanout_seconds{quantile="1"}') |" | tee -a "$OUT/mix-writes.md"
    fi
    stop_server
  done
  alive=$still
done
echo "highest rate with p99 < 50 ms and no errors: pull $best_pull, fanout $best_fanout" \
  | tee -a "$OUT/mix.md"

stage "Redis memory of the run's timelines"
python3 "$PY" memory "$REDIS" "$PREFIX" "$SAMPLE" 800 | tee "$OUT/memory.txt"
redis-cli -u "$REDIS" config get zset-max-listpack-entries | paste -sd' ' | tee -a "$OUT/memory.txt"
stage "done; results in $OUT"
