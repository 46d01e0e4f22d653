#!/usr/bin/env bash
# The web client's first load on the release binary: the bytes of its files as transferred
# (curl, Accept-Encoding: br, gzip), then the time to first render in headless Chromium
# (crates/server/tests/browser::first_load_figures, 7 loads, each in a fresh browser).
#
#   cargo build --release -p server && scripts/web-first-load.sh
#   BIN=path/to/socialscale PORT=3398 scripts/web-first-load.sh
#
# Needs curl, chromium and chromium-driver (apt). A fresh SQLite database with one account and
# 20 posts, so the timeline's first page is full; the server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-3398}
BIN=${BIN:-target/release/socialscale}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p server (or set BIN)"; exit 1; }

work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
base="http://127.0.0.1:$PORT"

HOST=127.0.0.1 PORT=$PORT DATABASE_URL="sqlite://$work/web.db" LOG_LEVEL=warn \
  JWT_SECRET=web-first-load-secret-web-first-load "$BIN" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fs "$base/health/liveness" >/dev/null && break
  sleep 0.1
done
curl -fs "$base/health/liveness" >/dev/null || { tail -5 "$work/server.log"; exit 1; }

token=$(curl -fs -X POST "$base/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"author@example.com","password":"password123","username":"author","name":"Author"}' |
  sed -E 's/.*"token":"([^"]+)".*/\1/')
for i in $(seq 20); do
  curl -fs -o /dev/null -X POST "$base/posts" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"content\":\"Post number $i of the first page\"}"
done

# Every file the page loads: the page, its stylesheet, its modules (from the modulepreload
# links and the entry script).
files=$(curl -fs "$base/" | grep -oE '(href|src)="/[^"]*"' | sed -E 's/.*"(\/[^"]*)"/\1/' |
  grep -v '^/docs')
total=0
total_raw=0
printf '%-22s %10s %12s\n' file bytes "on the wire"
for f in / $files; do
  raw=$(curl -fs -o /dev/null -w '%{size_download}' "$base$f")
  wire=$(curl -fs -o /dev/null --compressed -H 'Accept-Encoding: br, gzip' \
    -w '%{size_download}' "$base$f")
  printf '%-22s %10s %12s\n' "$f" "$raw" "$wire"
  total=$((total + wire))
  total_raw=$((total_raw + raw))
done
printf '%-22s %10s %12s\n' total "$total_raw" "$total"

SOCIALSCALE_BENCH_URL=$base cargo test -p server --test browser -- \
  --ignored --nocapture first_load_figures 2>&1 | grep -E '^(first load|median)'
