#!/bin/sh
# pbx-entrypoint: the node image's entrypoint.
#   start | check | explain | probe [args]   the pbx command on the container's configuration
#   pbx <command> [args]                     any pbx command as given
#   anything else                            run as is (sh, nats-server ...)
# The configuration is /etc/pbx/pbx.yaml (the /etc/pbx volume). Where it says ${CONTAINER_ADDRESS}
# the container's own address goes, and where it says ${ADDRESS:name} the address host `name`
# resolves to (waited for up to a minute: the other nodes of a solution, started at the same
# time). A container learns its address only when it starts (compose engines such as
# podman-compose 1.0.3 give none in advance). The result is /run/pbx/pbx.yaml, which the commands
# and the health check read.
# PBX_NODE (or start --node NAME): the node of a solution document this container runs; the
# health check (probe) asks that node's SIP socket.
set -eu
config=/etc/pbx/pbx.yaml
rendered=/run/pbx/pbx.yaml
started=/run/pbx/node
cli=/opt/pbx/dist/src/cli.js

# The first IPv4 address of a non-loopback interface.
own_address() {
  node -p "Object.values(require('node:os').networkInterfaces()).flat().find((i) => !i.internal && i.family === 'IPv4')?.address ?? ''"
}

# The IPv4 address host $1 resolves to, waiting up to a minute for the name to appear; a name
# that is this container's own (resolved to loopback by /etc/hosts) is its own address.
resolve() {
  i=0
  while :; do
    a=$(getent ahostsv4 "$1" | awk '{print $1; exit}' || true)
    case "$a" in
      127.*) own_address; return 0 ;;
      ?*) echo "$a"; return 0 ;;
    esac
    i=$((i + 1))
    if [ $i -ge 120 ]; then
      echo "pbx-entrypoint: $config names \${ADDRESS:$1} but $1 does not resolve" >&2
      return 1
    fi
    sleep 0.5
  done
}

render() {
  if [ ! -r "$config" ]; then
    echo "pbx-entrypoint: no configuration at $config: mount a folder holding pbx.yaml at /etc/pbx (docker/README.md)" >&2
    exit 1
  fi
  if grep -qF '${CONTAINER_ADDRESS}' "$config"; then
    address=$(own_address)
    if [ -z "$address" ]; then
      echo "pbx-entrypoint: $config uses \${CONTAINER_ADDRESS} but this container has no IPv4 address" >&2
      exit 1
    fi
    sed "s|\${CONTAINER_ADDRESS}|$address|g" "$config" > "$rendered.new"
    echo "pbx-entrypoint: $config with \${CONTAINER_ADDRESS} = $address" >&2
  else
    cp "$config" "$rendered.new"
  fi
  # (the names in YAML comments are not looked up)
  for name in $(sed -e 's/^[[:space:]]*#.*//' -e 's/[[:space:]]#.*//' "$rendered.new" | grep -oE '\$\{ADDRESS:[A-Za-z0-9._-]+\}' | sort -u | sed 's/^${ADDRESS://; s/}$//'); do
    address=$(resolve "$name") || exit 1
    sed -i "s|\${ADDRESS:$name}|$address|g" "$rendered.new"
    echo "pbx-entrypoint: $config with \${ADDRESS:$name} = $address" >&2
  done
  mv "$rendered.new" "$rendered"
}

# --node NAME among the arguments (start's own), else PBX_NODE
node_arg() {
  n=${PBX_NODE:-}
  while [ $# -gt 0 ]; do
    case "$1" in
      --node|-n) if [ $# -gt 1 ]; then n=$2; shift; fi ;;
      --node=*) n=${1#--node=} ;;
    esac
    shift
  done
  echo "$n"
}

has_node_flag() {
  for a in "$@"; do
    case "$a" in --node|-n|--node=*) return 0 ;; esac
  done
  return 1
}

command=${1:-start}
[ $# -gt 0 ] && shift
case "$command" in
  start)
    render
    node=$(node_arg "$@")
    printf '%s\n' "$node" > "$started"
    if [ -n "$node" ] && ! has_node_flag "$@"; then set -- --node "$node" "$@"; fi
    exec node "$cli" start --config "$rendered" "$@"
    ;;
  probe)
    # the health check: the configuration the node started on (not rendered again: that may
    # wait for names); none yet, the node has not started
    if [ ! -r "$rendered" ]; then
      echo "pbx-entrypoint: the node has not started yet (no $rendered)" >&2
      exit 1
    fi
    node=$(node_arg "$@")
    [ -n "$node" ] || node=$(cat "$started" 2>/dev/null || true)
    if [ -n "$node" ] && ! has_node_flag "$@"; then set -- --node "$node" "$@"; fi
    exec node "$cli" probe --config "$rendered" "$@"
    ;;
  check|explain)
    render
    exec node "$cli" "$command" --config "$rendered" "$@"
    ;;
  pbx)
    exec node "$cli" "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
