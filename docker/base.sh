#!/usr/bin/env bash
# Makes the base images for machines that reach Debian's packages but no image registry:
#   localhost/pbx-debian:bookworm       a minimal Debian 12, made with debootstrap
#   localhost/pbx-base:node20-bookworm  the same plus this machine's own Node 20+ (Debian 12's
#                                       nodejs package is Node 18): node, npm and the headers
#                                       under /usr/local, where the official Node images keep them
# so docker/Containerfile and docker/peer/Containerfile build the same on them as on
# docker.io/library/node:20-bookworm-slim and debian:bookworm-slim.
#   docker/base.sh [podman|docker]   (default podman)
# An image that exists already is kept; remove it to make it again.
set -euo pipefail
engine=${1:-podman}
debian=localhost/pbx-debian:bookworm
node=localhost/pbx-base:node20-bookworm
exists() { $engine image inspect "$1" >/dev/null 2>&1; }
tmp=$(mktemp -d /tmp/pbx-base.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! exists "$debian"; then
  command -v debootstrap >/dev/null || { echo "base.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
  sources=/etc/apt/sources.list.d/debian.sources
  mirror=$(awk '/^URIs:/{print $2; exit}' "$sources" 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "base.sh: debootstrap bookworm from $mirror (a minute or two)" >&2
  debootstrap --variant=minbase bookworm "$tmp/root" "$mirror" >&2
  # the machine's own sources (with security updates) instead of debootstrap's one-line list
  if [ -f "$sources" ]; then cp "$sources" "$tmp/root/etc/apt/sources.list.d/" && rm -f "$tmp/root/etc/apt/sources.list"; fi
  rm -rf "$tmp"/root/var/cache/apt/archives/*.deb "$tmp"/root/var/lib/apt/lists/*
  tar -C "$tmp/root" -c . | $engine import --change 'CMD ["bash"]' - "$debian" >&2
  rm -rf "$tmp/root"
fi

if ! exists "$node"; then
  nodebin=$(command -v node) || { echo "base.sh: needs node 20+ on this machine" >&2; exit 1; }
  nodebin=$(readlink -f "$nodebin")
  major=$("$nodebin" -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || { echo "base.sh: node $major here; the image needs 20 or later" >&2; exit 1; }
  prefix=$(dirname "$(dirname "$nodebin")")
  [ -f "$prefix/include/node/node_api.h" ] || { echo "base.sh: no Node headers in $prefix/include/node" >&2; exit 1; }
  [ -f "$prefix/lib/node_modules/npm/bin/npm-cli.js" ] || { echo "base.sh: no npm in $prefix/lib/node_modules/npm" >&2; exit 1; }
  ctx=$tmp/node
  mkdir -p "$ctx/usr/local/bin" "$ctx/usr/local/include" "$ctx/usr/local/lib/node_modules"
  cp "$nodebin" "$ctx/usr/local/bin/node"
  cp -a "$prefix/include/node" "$ctx/usr/local/include/"
  cp -a "$prefix/lib/node_modules/npm" "$ctx/usr/local/lib/node_modules/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usr/local/bin/npx"
  printf 'FROM %s\nCOPY usr/local/ /usr/local/\nCMD ["node"]\n' "$debian" > "$ctx/Containerfile"
  $engine build -q -f "$ctx/Containerfile" -t "$node" "$ctx" >&2
fi
