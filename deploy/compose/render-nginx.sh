#!/bin/sh
# Fills deploy/nginx.conf's placeholders (the same template deploy/local-cluster.sh uses) and runs
# nginx in the foreground; the nginx service of deploy/compose.yml runs this in nginx:alpine.
#   render-nginx.sh TEMPLATE PREFIX LISTEN UPSTREAM [--test]
# UPSTREAM is one host:port; a name resolving to several addresses (compose's `app` with
# replicas) becomes one upstream server per address when nginx starts.
# --test renders and runs `nginx -t` instead (deploy/ci/manifests.sh does, on the host).
set -eu
[ $# -ge 4 ] || { echo "usage: $0 TEMPLATE PREFIX LISTEN UPSTREAM [--test]" >&2; exit 2; }
template=$1 prefix=$2 listen=$3 upstream=$4
mkdir -p "$prefix/body" "$prefix/proxy" "$prefix/fastcgi" "$prefix/uwsgi" "$prefix/scgi"
# The template logs to a file under the prefix for local-cluster.sh; in a container the log
# belongs on stderr, where `docker compose logs` finds it.
sed -e "s|@LISTEN@|$listen|" \
    -e "s|@UPSTREAMS@|server $upstream max_fails=1 fail_timeout=2s;|" \
    -e "s|@PREFIX@|$prefix|g" \
    -e "s|^error_log .*;|error_log stderr warn;|" \
    "$template" >"$prefix/nginx.conf"
# A placeholder this script does not know (the template changed) would reach nginx as text.
if grep -n '@[A-Z_]*@' "$prefix/nginx.conf" >&2; then
  echo "render-nginx.sh: unfilled placeholder in $template" >&2
  exit 1
fi
if [ "${5:-}" = "--test" ]; then
  exec nginx -t -p "$prefix" -c "$prefix/nginx.conf"
fi
exec nginx -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off;'
