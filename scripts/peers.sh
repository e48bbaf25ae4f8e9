#!/usr/bin/env bash
# Installs the Debian packages of the third-party peers the tests and benchmarks use, when
# missing: sipp (sip-tester), baresip, sox, espeak-ng, kamailio (benchmark reference), tcpdump,
# nats-server (the solution bus), iproute2 (network namespaces of the multi-node tests), nftables
# (packet loss on a node's link in the failover tests).
set -u
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip)
command -v sox >/dev/null 2>&1 || need+=(sox libsox-fmt-all)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
[ ${#need[@]} -eq 0 ] && exit 0
echo "== installing peers: ${need[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "not root: install these Debian packages first: ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
