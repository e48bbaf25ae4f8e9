#!/bin/sh
# pbx-entrypoint: the node image's entrypoint.
#   start | check | explain | probe [args]   the pbx command on the container's configuration
#   pbx <command> [args]                     any pbx command as given
#   anything else                            run as is (sh, nats-server ...)
# The configuration is /etc/pbx/pbx.yaml (the /etc/pbx volume). Where it says ${CONTAINER_ADDRESS}
# the container's own address goes (a container learns its address only when it starts: compose
# engines such as podman-compose 1.0.3 give none in advance); the result is /run/pbx/pbx.yaml,
# which the commands and the health check read.
set -eu
config=/etc/pbx/pbx.yaml
rendered=/run/pbx/pbx.yaml
cli=/opt/pbx/dist/src/cli.js

# The first IPv4 address of a non-loopback interface.
own_address() {
  node -p "Object.values(require('node:os').networkInterfaces()).flat().find((i) => !i.internal && i.family === 'IPv4')?.address ?? ''"
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
  mv "$rendered.new" "$rendered"
}

command=${1:-start}
[ $# -gt 0 ] && shift
case "$command" in
  start|check|explain|probe)
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
