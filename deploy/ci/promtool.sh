#!/usr/bin/env bash
# Checks the Prometheus alert rules: syntax and PromQL (`promtool check rules`), then their
# behaviour on synthetic series (`promtool test rules deploy/prometheus/alerts_test.yml`).
# Installs promtool (Debian package `prometheus`) when it is missing. Takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends prometheus
fi

promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
