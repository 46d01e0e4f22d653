#!/usr/bin/env bash
# CI check of the deployment manifests, none of which can run on this machine (no container
# engine, no cluster):
#   - deploy/compose.yml against the Compose Specification JSON schema (the copy vendored in
#     check-jsonschema, `vendor.compose-spec`; nothing downloaded at check time but the package);
#   - deploy/k8s/*.yaml against the Kubernetes OpenAPI schemas shipped in kubernetes-validate,
#     strict (unknown fields fail), for the oldest version they need (1.30: preStop `sleep`) and
#     the newest the package has; plus the kustomize output when kubectl is present;
#   - what no schema knows: mounted files exist, grace periods outlast the drain, selectors and
#     names agree, no secret value is committed, Grafana's datasource uid is the dashboard's;
#   - the nginx template rendered the way the compose service renders it, through `nginx -t`;
#     the compose prometheus.yml through `promtool check config` (which also checks the alert
#     rules it loads).
# Installs what it needs (a venv under target/, nginx and prometheus from apt when missing).
# Exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-target/ci-venv}
PIP_PKGS=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0)
K8S_VERSIONS=(1.30.0 1.37.0)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/pip" freeze 2>/dev/null | grep -qx 'kubernetes-validate==1.37.0' \
  || ! "$VENV/bin/pip" freeze 2>/dev/null | grep -qx 'check-jsonschema==0.39.0'; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PIP_PKGS[@]}"
fi
apt_updated=
need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need_apt nginx nginx
need_apt promtool prometheus

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
check() { # check NAME COMMAND...
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    sed 's/^/      /' "$tmp/out"
  fi
}

check "compose.yml matches the Compose Specification schema" \
  "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yml

k8s_files=()
for f in deploy/k8s/*.yaml; do
  # Not a Kubernetes object: kustomize's own file, checked by the consistency step below.
  [ "$(basename "$f")" = kustomization.yaml ] || k8s_files+=("$f")
done
for v in "${K8S_VERSIONS[@]}"; do
  check "k8s manifests valid for Kubernetes $v (strict)" \
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${k8s_files[@]}"
done
if command -v kubectl >/dev/null; then
  kustomize_valid() {
    kubectl kustomize deploy/k8s >"$tmp/kustomized.yaml" &&
      "$VENV/bin/kubernetes-validate" --strict --quiet -k "${K8S_VERSIONS[0]}" "$tmp/kustomized.yaml"
  }
  check "kubectl kustomize deploy/k8s renders valid objects" kustomize_valid
else
  echo "skip  kubectl kustomize (no kubectl here; the resources list is still checked below)"
fi

check "manifests agree with each other and commit no secret" "$VENV/bin/python" - <<'PY'
import json, pathlib, re, sys
import yaml

deploy = pathlib.Path("deploy")
errors = []
def err(msg): errors.append(msg)

def seconds(d):
    """A compose duration ('30s', '1m30s') in seconds."""
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    for n, u in re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", str(d)):
        total += float(n) * units[u]
    return total

# --- compose ---------------------------------------------------------------------------------
compose = yaml.safe_load((deploy / "compose.yml").read_text())
services = compose["services"]
dockerfile = None
for name, svc in services.items():
    build = svc.get("build")
    if build:
        ctx = (deploy / build.get("context", ".")).resolve()
        dockerfile = ctx / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            err(f"compose {name}: build file {dockerfile.relative_to(ctx)} does not exist")
            dockerfile = None
    for v in svc.get("volumes", []):
        src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith("."):
            if not (deploy / src).exists():
                err(f"compose {name}: mounted {src} does not exist (relative to deploy/)")
    for dep, cond in (svc.get("depends_on") or {}).items():
        if dep not in services:
            err(f"compose {name}: depends on unknown service {dep}")
            continue
        if cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            # Only an image built here can bring its own HEALTHCHECK.
            has = dockerfile is not None and "build" in services[dep] and re.search(
                r"^\s*HEALTHCHECK\s+(?!NONE)", dockerfile.read_text(), re.M)
            if not has:
                err(f"compose {name}: waits for {dep} to be healthy, which has no healthcheck")

secret_vars = {"JWT_SECRET", "POSTGRES_PASSWORD", "REPLICATION_PASSWORD",
               "GF_SECURITY_ADMIN_PASSWORD"}
for name, svc in services.items():
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    for key, val in env.items():
        val = str(val)
        if key in secret_vars and not re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", val):
            err(f"compose {name}: {key} must be ${{VAR:?...}} from the environment, not a value")
        m = re.match(r"^[a-z+]+://[^:/@]+:([^@]*)@", val)
        if m and not re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", m.group(1)):
            err(f"compose {name}: {key} embeds a password that is not ${{VAR:?...}}")
    if "SHUTDOWN_GRACE_SECONDS" in env:
        grace = int(env["SHUTDOWN_GRACE_SECONDS"])
        stop = seconds(svc.get("stop_grace_period", "10s"))
        if stop <= grace:
            err(f"compose {name}: stop_grace_period {stop:g}s does not outlast "
                f"SHUTDOWN_GRACE_SECONDS={grace}: docker would SIGKILL mid-drain")

for line in (deploy / "compose/env.example").read_text().splitlines():
    if line.strip() and not line.lstrip().startswith("#") and not line.rstrip().endswith("="):
        err(f"compose/env.example gives a value: {line.split('=')[0]}= must stay empty")

app = services["app"]
app_env = app["environment"]
app_port = str(app_env["PORT"])
primary = re.search(r"@([^:/]+)", app_env["DATABASE_URL"]).group(1)
for url in app_env.get("DATABASE_READ_URLS", "").split(","):
    host = re.search(r"@([^:/]+)", url).group(1)
    if host not in services or host == primary:
        err(f"compose: DATABASE_READ_URLS host {host} is not a replica service")
# The worker: the app's image and environment with `worker` as its command; the image's
# HEALTHCHECK (HTTP liveness) off, since it serves no port.
worker_svc = services.get("worker")
if worker_svc is None:
    err("compose: no worker service (socialscale worker)")
else:
    if worker_svc.get("image") != app.get("image") or worker_svc.get("command") != ["worker"]:
        err("compose worker: must run the app's image with command [worker]")
    wenv = worker_svc.get("environment") or {}
    missing = sorted(k for k in app_env if k not in wenv)
    if missing:
        err(f"compose worker: lacks the app's environment {missing}")
    if not (worker_svc.get("healthcheck") or {}).get("disable"):
        err("compose worker: the image's HTTP healthcheck must be disabled (no port)")
nginx = services["nginx"]
nginx_ip = nginx["networks"]["backend"]["ipv4_address"]
if app_env.get("TRUSTED_PROXIES") != nginx_ip:
    err(f"compose: TRUSTED_PROXIES ({app_env.get('TRUSTED_PROXIES')}) is not nginx's {nginx_ip}")
if f"app:{app_port}" not in nginx["command"]:
    err(f"compose: nginx's upstream is not app:{app_port}")
prom = yaml.safe_load((deploy / "compose/prometheus.yml").read_text())
app_jobs = [sd for job in prom["scrape_configs"] for sd in job.get("dns_sd_configs", [])]
if not app_jobs:
    err("compose prometheus.yml: no DNS discovery of the app replicas")
for sd in app_jobs:
    for n in sd["names"]:
        if n not in services:
            err(f"compose prometheus.yml: scrapes {n}, which is no service")
    if str(sd["port"]) != app_port:
        err(f"compose prometheus.yml: scrapes port {sd['port']}, the app listens on {app_port}")

# --- grafana ---------------------------------------------------------------------------------
ds = yaml.safe_load((deploy / "grafana/provisioning/datasources/prometheus.yml").read_text())
uids = {d["uid"] for d in ds["datasources"]}
if uids != {"prometheus"}:
    err(f"grafana datasource uid {uids} is not the dashboard's `prometheus`")
dash = deploy / "grafana/socialscale.json"
if dash.is_file():
    def walk(o):
        if isinstance(o, dict):
            d = o.get("datasource")
            if isinstance(d, dict) and "uid" in d and not str(d["uid"]).startswith("$") \
                    and d["uid"] not in uids and d.get("type") != "datasource":
                err(f"grafana dashboard uses datasource uid {d['uid']!r}, not provisioned")
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.loads(dash.read_text()))

# --- kubernetes ------------------------------------------------------------------------------
k8s = deploy / "k8s"
objs = {}
for f in sorted(k8s.glob("*.yaml")):
    for doc in yaml.safe_load_all(f.read_text()):
        if doc:
            objs[(doc["kind"], doc.get("metadata", {}).get("name"))] = (f.name, doc)
kust = objs.pop(("Kustomization", None))[1]
listed = set(kust["resources"])
expected = {f for f, _ in objs.values()} - {"secret.yaml"}
if listed != expected:
    err(f"kustomization resources {sorted(listed)} != manifests {sorted(expected)} "
        "(secret.yaml stays out on purpose)")
for (kind, name), (f, doc) in objs.items():
    if "namespace" in doc.get("metadata", {}):
        err(f"{f}: names a namespace; the manifests are namespace-agnostic")

def one(kind):
    found = [doc for (k, _), (_, doc) in objs.items() if k == kind]
    if len(found) != 1:
        err(f"expected one {kind}, found {len(found)}")
        sys.exit("\n".join(errors))
    return found[0]

def component(name):
    found = [doc for (k, _), (_, doc) in objs.items()
             if k == "Deployment"
             and doc["metadata"]["labels"].get("app.kubernetes.io/component") == name]
    if len(found) != 1:
        err(f"expected one Deployment of component {name}, found {len(found)}")
        sys.exit("\n".join(errors))
    return found[0]

deployments = [doc for (k, _), (_, doc) in objs.items() if k == "Deployment"]
if len(deployments) != 2:
    err(f"expected two Deployments (api, worker), found {len(deployments)}")
cm, secret = one("ConfigMap"), one("Secret")
dep, worker = component("api"), component("worker")
svc, hpa, pdb = one("Service"), one("HorizontalPodAutoscaler"), one("PodDisruptionBudget")
if secret.get("data") or any(v for v in (secret.get("stringData") or {}).values()):
    err("secret.yaml holds a value: it must only name the keys")
pod = dep["spec"]["template"]
labels = pod["metadata"]["labels"]
for what, sel in (("Deployment", dep["spec"]["selector"]["matchLabels"]),
                  ("Service", svc["spec"]["selector"]),
                  ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"])):
    if any(labels.get(k) != v for k, v in sel.items()):
        err(f"{what} selector {sel} does not match the pod labels {labels}")
if hpa["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]:
    err("HPA targets another Deployment")
(c,) = pod["spec"]["containers"]
refs = {("ConfigMap", e["configMapRef"]["name"]) for e in c["envFrom"] if "configMapRef" in e}
refs |= {("Secret", e["secretRef"]["name"]) for e in c["envFrom"] if "secretRef" in e}
for ref in refs:
    if ref not in objs:
        err(f"Deployment reads {ref[0]} {ref[1]}, which no manifest defines")
data = cm["data"]
if str(c["ports"][0]["containerPort"]) != data["PORT"]:
    err(f"containerPort {c['ports'][0]['containerPort']} is not the ConfigMap's PORT {data['PORT']}")
probes = {p: c[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe", "startupProbe")}
if probes["readinessProbe"] != "/health/readiness" or probes["livenessProbe"] != "/health/liveness":
    err(f"probes point at the wrong endpoints: {probes}")
pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
grace = int(data["SHUTDOWN_GRACE_SECONDS"])
term = pod["spec"]["terminationGracePeriodSeconds"]
if term < pre_stop + grace + 1:
    err(f"terminationGracePeriodSeconds {term} < preStop {pre_stop} + SHUTDOWN_GRACE_SECONDS "
        f"{grace} + margin: pods would be killed mid-drain")
# The worker tier: the same image and configuration, `worker` instead of the default command,
# no port, no probes (it serves none), a grace period above its drain, pods no other selector
# takes.
wpod = worker["spec"]["template"]
wlabels = wpod["metadata"]["labels"]
if any(wlabels.get(k) != v for k, v in worker["spec"]["selector"]["matchLabels"].items()):
    err(f"worker Deployment selector does not match its pod labels {wlabels}")
for what, sel in (("Service", svc["spec"]["selector"]),
                  ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"]),
                  ("API Deployment", dep["spec"]["selector"]["matchLabels"])):
    if all(wlabels.get(k) == v for k, v in sel.items()):
        err(f"the {what} selector {sel} also takes the worker pods")
(wc,) = wpod["spec"]["containers"]
if wc.get("image") != c.get("image"):
    err(f"worker image {wc.get('image')} is not the API's {c.get('image')}")
if wc.get("args") != ["worker"] or "command" in wc:
    err(f"worker must run the image's binary with args [worker], not {wc.get('command')} {wc.get('args')}")
if wc.get("envFrom") != c["envFrom"]:
    err("worker envFrom differs from the API's: both must read the same configuration")
for p in ("readinessProbe", "livenessProbe", "startupProbe", "ports"):
    if p in wc:
        err(f"worker has {p}, but it listens on no port")
if wpod["spec"]["terminationGracePeriodSeconds"] < grace + 1:
    err(f"worker terminationGracePeriodSeconds {wpod['spec']['terminationGracePeriodSeconds']} "
        f"< SHUTDOWN_GRACE_SECONDS {grace} + margin: workers killed mid-batch")
wsc = wc["securityContext"]
if not (wpod["spec"]["securityContext"].get("runAsNonRoot") and wsc.get("readOnlyRootFilesystem")
        and wsc.get("allowPrivilegeEscalation") is False):
    err("the worker pod must run non-root, read-only, without privilege escalation")
wenv = {e["name"]: e.get("value") for e in wc.get("env", [])}
worker_conns = worker["spec"]["replicas"] * int(wenv.get("DB_MAX_CONNECTIONS",
                                                         data["DB_MAX_CONNECTIONS"]))
budget = hpa["spec"]["maxReplicas"] * int(data["DB_MAX_CONNECTIONS"]) + worker_conns
if budget >= 100:
    err(f"HPA maxReplicas x DB_MAX_CONNECTIONS + the workers' connections = {budget} reaches "
        "PostgreSQL's default max_connections 100")
sc, psc = c["securityContext"], pod["spec"]["securityContext"]
if not (psc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem")
        and sc.get("allowPrivilegeEscalation") is False):
    err("the pod must run non-root, read-only, without privilege escalation")

if errors:
    sys.exit("\n".join(errors))
PY

check "nginx template renders as compose does, nginx -t accepts it" \
  sh deploy/compose/render-nginx.sh deploy/nginx.conf "$tmp/nginx" 127.0.0.1:18080 127.0.0.1:3333 --test

promtool_config() {
  # The config names the rules file by its path inside the container: point it at the repo's.
  mkdir -p "$tmp/prom"
  cp deploy/prometheus/alerts.yml "$tmp/prom/alerts.yml"
  sed 's|/etc/prometheus/alerts.yml|alerts.yml|' deploy/compose/prometheus.yml >"$tmp/prom/prometheus.yml"
  promtool check config "$tmp/prom/prometheus.yml"
}
check "compose prometheus.yml passes promtool check config (with deploy/prometheus/alerts.yml)" \
  promtool_config

echo "manifests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
