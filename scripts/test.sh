#!/usr/bin/env bash
# The whole test suite: installs the third-party peers the tests use when they are missing,
# type-checks, runs every ava test file, and ends with a plain "N passed, N failed" line.
set -u
cd "$(dirname "$0")/.."

bash scripts/peers.sh || echo "warning: some peers could not be installed; tests that need them will fail"

[ -d node_modules ] || npm install --no-audit --no-fund

out=$(mktemp -d /tmp/pbx-test.XXXXXX)
extra_failed=0
extra_skipped=0
checks_failed=0
echo "== type check"
if ! npx tsc -p tsconfig.json --noEmit; then
  echo "not ok - type check"
  checks_failed=$((checks_failed + 1))
fi

echo "== lint (eslint: no floating promises)"
if ! npx eslint; then
  echo "not ok - lint"
  checks_failed=$((checks_failed + 1))
fi
extra_failed=$checks_failed

echo "== tests"
# The tests run in a network namespace of their own when we are root: loopback only, nothing else
# on the machine can hold their ports, and the kernel's ephemeral ports (UDP sockets bound to port
# 0, DNS queries) are kept above the tests' port blocks (30000-60199, test/helpers/ports.ts), so
# the kernel never hands a test's fixed port to somebody else.
run_ava=(npx ava --tap "$@")
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null && [ -z "${PBX_TEST_NO_NETNS:-}" ]; then
  run_ava=(unshare -n sh -c 'ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="60500 65000" && exec "$@"' sh "${run_ava[@]}")
fi
# TAP so the count below does not depend on ava's human summary.
"${run_ava[@]}" 2>&1 | tee "$out/tap.txt"

# Calls through containers (test/containers/), where podman or Docker can run them: the images
# are built first (cached; the build needs the network, so scripts/containers.sh runs it here,
# outside the namespace above), then the tests run in a namespace of their own with the
# containers' network (scripts/containers.sh says why).
echo "== container tests"
if [ $# -gt 0 ]; then
  echo "# SKIP container tests: only the test files given ran (npm run test:containers runs them)"
  extra_skipped=1
elif bash scripts/containers.sh setup && bash scripts/containers.sh available; then
  bash scripts/containers.sh test --tap 2>&1 | tee -a "$out/tap.txt"
  if [ "${PIPESTATUS[0]}" = 3 ]; then
    echo "not ok - container images (the build failed: see above)"
    extra_failed=$((extra_failed + 1))
  fi
else
  echo "# SKIP container tests: neither podman (with podman-compose) nor Docker (with compose) can run containers here"
  extra_skipped=1
fi
passed=$(grep -cE '^ok [0-9]+' "$out/tap.txt" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out/tap.txt" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+' "$out/tap.txt" | tr -d ' ')
# the type check and the lint count as one test each (extra_failed holds their failures and a
# failed image build)
passed=$((passed - skipped + 2 - checks_failed))
skipped=$((skipped + extra_skipped))
failed=$((failed + extra_failed))
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "no test ran"; failed=1
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
