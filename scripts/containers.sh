#!/usr/bin/env bash
# Containers: the node image, the test peers' image, the compose topology and its tests.
#   scripts/containers.sh available   exit 0 when podman or Docker can run containers here
#   scripts/containers.sh setup       what podman needs on a fresh machine, podman itself included
#                                     (idempotent; installs need root)
#   scripts/containers.sh build       setup, then the base images (once) and both images (cached)
#   scripts/containers.sh test [ava args]   build, then the container tests (npm run test:containers);
#                                     exit 3 when the images could not be built
#   scripts/containers.sh up | down   the topology of docker/compose.yaml, project "pbx"
# Environment: PBX_CONTAINER_ENGINE=podman|docker (default: podman, unless only Docker is there); PBX_IMAGE_BASE=local|official: local bases made from Debian packages (docker/base.sh,
# for machines that reach no image registry; the default when debootstrap is installed) or the
# official node and debian images. Several checkouts on one machine keep their runs apart with
# PBX_IMAGE_TAG (the images' tag, default latest) and PBX_CT_PROJECT (the tests' compose
# project, default pbxct: its containers, volumes and network carry that name).
set -euo pipefail
cd "$(dirname "$0")/.."

# `ip netns exec` (how each engineer's suite runs in a namespace of its own) gives a mount
# namespace of its own with a fresh /sys, without the cgroup hierarchies: no container can start
# there ("no cgroup mount found"). The machine's hierarchies (as PID 1 sees them) are mounted
# again here, in that private mount namespace only (when /sys has none and PID 1's has some, ours
# is not the machine's).
cgroups() {
  [ "$(id -u)" = 0 ] && [ -r /proc/1/mountinfo ] || return 0
  grep -q ' - cgroup2\? ' /proc/self/mountinfo && return 0
  grep -q ' - cgroup2\? ' /proc/1/mountinfo || return 0
  local fstype point opts
  # "ID PARENT DEV ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS"
  awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1), $5, $(i + 3); break } }' /proc/1/mountinfo |
    while read -r fstype point opts; do
      case "$fstype:$point" in
        tmpfs:/sys/fs/cgroup) mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup ;;
        cgroup:*) mkdir -p "$point" && mount -t cgroup -o "$(echo "$opts" | tr , '\n' | grep -vxE 'rw|ro|relatime' | paste -sd, -)" cgroup "$point" ;;
        cgroup2:*) mkdir -p "$point" && mount -t cgroup2 cgroup2 "$point" ;;
      esac
    done
  echo "== containers: mounted the machine's cgroup hierarchies in this mount namespace (ip netns exec hides them)" >&2
}
cgroups

engine=${PBX_CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null || ! docker info >/dev/null 2>&1; then engine=podman; else engine=docker; fi
fi
case "$engine" in podman|docker) ;; *) echo "PBX_CONTAINER_ENGINE: podman or docker, not $engine" >&2; exit 2 ;; esac
export PBX_CONTAINER_ENGINE=$engine
export PBX_IMAGE_TAG=${PBX_IMAGE_TAG:-latest} PBX_CT_PROJECT=${PBX_CT_PROJECT:-pbxct}
case "$PBX_IMAGE_TAG" in *[!A-Za-z0-9._-]*|'') echo "PBX_IMAGE_TAG: letters, digits, . _ -, not $PBX_IMAGE_TAG" >&2; exit 2 ;; esac
case "$PBX_CT_PROJECT" in *[!a-z0-9_-]*|'') echo "PBX_CT_PROJECT: lower-case letters, digits, _ -, not $PBX_CT_PROJECT" >&2; exit 2 ;; esac
if [ "$engine" = podman ]; then compose=(podman-compose); else compose=(docker compose); fi

base=${PBX_IMAGE_BASE:-}
if [ -z "$base" ]; then
  if command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ]; then base=local; else base=official; fi
fi
if [ "$base" = local ]; then
  export PBX_NODE_BASE=localhost/pbx-base:node20-bookworm PBX_PEER_BASE=localhost/pbx-debian:bookworm
else
  export PBX_NODE_BASE=docker.io/library/node:20-bookworm-slim PBX_PEER_BASE=docker.io/library/debian:bookworm-slim
fi

available() {
  command -v "$engine" >/dev/null || return 1
  if [ "$engine" = podman ]; then
    command -v podman-compose >/dev/null && podman info >/dev/null 2>&1
  else
    docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
  fi
}

# install_packages [package ...]: Debian packages, as root (nothing to do when none are given).
install_packages() {
  [ $# -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || { echo "containers: install these Debian packages first: $*" >&2; return 1; }
  echo "== containers: installing $*"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# podman on a fresh machine: podman itself, podman-compose and an OCI runtime when missing; service names need a DNS plugin on the container network, and a
# sandbox that may not raise resource limits needs podman to ask for no more than it has.
setup() {
  [ "$engine" = podman ] || return 0
  local backend need=()
  command -v podman >/dev/null || need+=(podman)
  command -v podman-compose >/dev/null || need+=(podman-compose)
  command -v runc >/dev/null || command -v crun >/dev/null || need+=(runc)
  command -v debootstrap >/dev/null || [ "$base" != local ] || need+=(debootstrap)
  install_packages "${need[@]}" || return 1
  need=()
  backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo cni)
  if [ "$backend" = netavark ]; then
    [ -x /usr/lib/podman/aardvark-dns ] || [ -x /usr/libexec/podman/aardvark-dns ] || need+=(aardvark-dns)
  else
    [ -x /usr/lib/cni/dnsname ] || [ -x /opt/cni/bin/dnsname ] || need+=(golang-github-containernetworking-plugin-dnsname)
  fi
  install_packages "${need[@]}" || return 1
  # podman asks for nofile=1048576 in every container; where even root may not raise its limits
  # (a sandbox without CAP_SYS_RESOURCE) that fails, so containers get this machine's limits.
  local conf=/etc/containers/containers.conf.d/50-pbx-core.conf
  if [ ! -f "$conf" ] && ! (ulimit -Hn 1048576) 2>/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "containers: podman needs default_ulimits within this machine's limits ($conf)" >&2; return 1; }
    mkdir -p "$(dirname "$conf")"
    # nproc: builds fail above 32768 here even within the hard limit; a node needs far fewer
    local files procs
    files=$(ulimit -Hn)
    procs=$(ulimit -Hu)
    [ "$procs" = unlimited ] || [ "$procs" -gt 32768 ] && procs=32768
    printf '# Written by pbx-core scripts/containers.sh: this machine may not raise resource limits.\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
      "$files" "$files" "$procs" "$procs" > "$conf"
    echo "== containers: wrote $conf"
  fi
}

# npm's certificate authority file, when this machine reaches the registry through a proxy that
# inspects TLS (the image build must trust what the host trusts); empty otherwise.
npm_ca() {
  local f
  f=$(npm config get cafile 2>/dev/null || true)
  [ -n "$f" ] && [ "$f" != null ] && [ -s "$f" ] || f=${NODE_EXTRA_CA_CERTS:-}
  [ -n "$f" ] && [ -s "$f" ] && echo "$f"
  return 0
}

# image NAME BASE FILE [build args]: builds NAME:$PBX_IMAGE_TAG, its output in a log shown on failure.
image() {
  local name=$1 from=$2 file=$3 log t0
  shift 3
  log=$(mktemp /tmp/pbx-image.XXXXXX)
  t0=$(date +%s)
  if ! $engine build "$@" --build-arg "BASE=$from" -f "$file" -t "$name:$PBX_IMAGE_TAG" . >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "containers: building $name failed (whole log: $log)" >&2
    return 1
  fi
  rm -f "$log"
  echo "== containers: $name:$PBX_IMAGE_TAG ready ($(($(date +%s) - t0)) s, base $from)"
}

build() {
  setup
  local t0 t1 ca args=()
  t0=$(date +%s)
  if [ "$base" = local ]; then bash docker/base.sh "$engine"; fi
  ca=$(npm_ca)
  if [ -n "$ca" ]; then args+=(--secret "id=npm_ca,src=$ca"); fi
  # podman's default OCI format has no HEALTHCHECK; Docker's builder always keeps it.
  if [ "$engine" = podman ]; then args+=(--format docker); fi
  image localhost/pbx-core "$PBX_NODE_BASE" docker/Containerfile "${args[@]}"
  image localhost/pbx-peer "$PBX_PEER_BASE" docker/peer/Containerfile
  t1=$(date +%s)
  echo "== containers: images ready in $((t1 - t0)) s"
}

run_tests() {
  build || exit 3
  local ava=(npx ava --config test/containers/ava.config.mjs "$@")
  # Like scripts/test.sh: a network namespace of our own when root, so the containers' network
  # (podman makes its bridge where it runs) is reachable from the tests and from nothing else.
  # Docker's daemon makes its networks in its own namespace: its tests run where we are.
  local rc=0
  if [ "$engine" = podman ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ -z "${PBX_TEST_NO_NETNS:-}" ]; then
    unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${ava[@]}" || rc=$?
  else
    "${ava[@]}" || rc=$?
  fi
  # The tests take their topology down themselves, also when they fail; a run that was killed
  # or timed out cannot, so whatever is left of it goes here.
  down_project "$PBX_CT_PROJECT"
  return $rc
}

# Removes a compose project's containers, volumes and network (quietly; nothing there is fine).
down_project() {
  "${compose[@]}" -p "$1" -f docker/compose.yaml down -v -t 2 >/dev/null 2>&1 || true
  # podman-compose 1.0.3 leaves the project's network behind
  if [ "$engine" = podman ]; then podman network rm -f "$1_default" >/dev/null 2>&1 || true; fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  available) available ;;
  setup) setup ;;
  build) build ;;
  test) run_tests "$@" ;;
  up) "${compose[@]}" -p pbx -f docker/compose.yaml up -d "$@" ;;
  down) down_project pbx ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
