#!/usr/bin/env bash
# Makes the local base image for machines that reach Debian's packages but no image registry:
# a minimal Debian 12 made with debootstrap, plus this machine's own Node 20 (Debian 12's nodejs
# package is Node 18): its binary, npm and headers, where an official Node image keeps them too,
# so docker/Containerfile builds the same on it as on docker.io/library/node:20-bookworm-slim.
#   docker/base.sh [engine]   (engine: podman, the default, or docker)
# Prints the image's name. Nothing is done when the image exists already; delete it to remake it.
set -euo pipefail
engine=${1:-podman}
image=localhost/pbx-base:node20-bookworm
if $engine image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi

node=$(command -v node) || { echo "base.sh: needs node 20+ on this machine" >&2; exit 1; }
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "base.sh: node $major here; the image needs 20 or later" >&2; exit 1; }
prefix=$(dirname "$(dirname "$(readlink -f "$node")")")
[ -f "$prefix/include/node/node_api.h" ] || { echo "base.sh: no Node headers in $prefix/include/node" >&2; exit 1; }
npmdir=$prefix/lib/node_modules/npm
[ -f "$npmdir/bin/npm-cli.js" ] || { echo "base.sh: no npm in $npmdir" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "base.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

sources=/etc/apt/sources.list.d/debian.sources
mirror=$(awk '/^URIs:/{print $2; exit}' "$sources" 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/pbx-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base.sh: debootstrap bookworm from $mirror (about a minute)" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
[ -f "$sources" ] && cp "$sources" "$root/etc/apt/sources.list.d/"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# The official Node images keep node, npm and the headers under /usr/local.
mkdir -p "$root/usr/local/bin" "$root/usr/local/include" "$root/usr/local/lib/node_modules"
cp "$(readlink -f "$node")" "$root/usr/local/bin/node"
cp -a "$prefix/include/node" "$root/usr/local/include/"
cp -a "$npmdir" "$root/usr/local/lib/node_modules/"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
tar -C "$root" -c . | $engine import --change 'CMD ["node"]' - "$image" >&2
echo "$image"
