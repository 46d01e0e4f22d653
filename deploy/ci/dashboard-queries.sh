#!/usr/bin/env bash
# No dead panels: runs every query of the Grafana dashboard against a live Prometheus and fails
# if any is rejected or returns no series.
#
#   deploy/ci/dashboard-queries.sh PROM_URL [DASHBOARD_JSON]
#
# Each target's `expr` (panels inside rows included) is sent as an instant query to
# PROM_URL/api/v1/query, with the dashboard's variables replaced: $instance by `.*` (every
# instance), $__rate_interval / $__interval by RATE_INTERVAL (default 1m: with a short scrape
# interval that window holds enough samples). Prints each panel title with its series count.
#
# WAIT_SECONDS (default 30): how long to keep retrying queries that return no series, for a
# caller that has just sent traffic: a rate needs two scrapes of a counter after it appears.
# A query Prometheus rejects fails at once.
#
# What it needs from the traffic the scraped instances have seen: some requests (request rate,
# latency, errors: those series start at the first request), cache reads (l1 always; the l2
# tier and the Redis panel's series only exist with REDIS_URL set). Rate-limit rejections and
# fallbacks, Redis errors and 5xx show 0 until they happen, so they need no special traffic.
# An instance without REDIS_URL has no Redis series: point it at a Prometheus scraping at least
# one instance with Redis configured.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 PROM_URL [DASHBOARD_JSON]" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || { echo "$0: python3 is required" >&2; exit 2; }

exec python3 - "$1" "${2:-deploy/grafana/socialscale.json}" <<'PY'
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

prom, path = sys.argv[1].rstrip("/"), sys.argv[2]
rate_interval = os.environ.get("RATE_INTERVAL", "1m")
wait = float(os.environ.get("WAIT_SECONDS", "30"))

with open(path, encoding="utf-8") as f:
    dashboard = json.load(f)

def panels(items):
    for p in items:
        yield p
        # A collapsed row keeps its panels inside it.
        yield from panels(p.get("panels", []))

SUBST = {"instance": ".*", "__rate_interval": rate_interval, "__interval": rate_interval}

def substitute(expr):
    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in SUBST:
            raise ValueError(f"unknown dashboard variable ${name}")
        return SUBST[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", one, expr)

targets = []
for p in panels(dashboard.get("panels", [])):
    for t in p.get("targets", []):
        expr = t.get("expr", "").strip()
        if expr:
            targets.append((p.get("title", "?"), t.get("refId", "?"), expr))
if not targets:
    sys.exit(f"{path}: no panel has a query")

def query(expr):
    """(series count, None, retry) or (None, error, retry)."""
    try:
        q = substitute(expr)
    except ValueError as e:
        return None, str(e), False
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return None, f"HTTP {e.code}", True
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"cannot query {prom}: {e}", True
    if body.get("status") != "success":
        # bad_data: the query itself is wrong; waiting will not fix it.
        kind = body.get("errorType", "error")
        return None, f"{kind}: {body.get('error', body)}", kind != "bad_data"
    result = body["data"]["result"]
    return (len(result) if isinstance(result, list) else 1), None, True

deadline = time.monotonic() + wait
pending = list(targets)
results = {}
while True:
    still = []
    for title, ref, expr in pending:
        n, err, retry = query(expr)
        results[(title, ref)] = (n, err, expr)
        if (err or not n) and retry:
            still.append((title, ref, expr))
    pending = still
    if not pending or time.monotonic() >= deadline:
        break
    time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

failed = 0
for title, ref, expr in targets:
    n, err, _ = results[(title, ref)]
    if err:
        failed += 1
        print(f"FAIL  {title} [{ref}]: {err}\n      {expr}")
    elif not n:
        failed += 1
        print(f"FAIL  {title} [{ref}]: no series\n      {expr}")
    else:
        print(f"ok    {title} [{ref}]: {n} series")
print(f"{len(targets) - failed}/{len(targets)} panel queries return series ({prom})")
sys.exit(1 if failed else 0)
PY
