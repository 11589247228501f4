#!/usr/bin/env bash
# Installs the real third-party test subjects from the registries: redis-server and redis-cli
# (Debian packages), dnslib dnspython and redis-py (PyPI). Tests that use them skip when they are
# missing, unless STICKLER_REQUIRE_SUBJECTS=1 (CI sets it), when a missing subject fails them.
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== apt-get install redis-server redis-tools"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  else
    echo "ci/subjects.sh: redis-server is missing and this is not root: install redis-server" >&2
    exit 2
  fi
fi
redis-server --version

echo "== pip install -r fixtures/subjects/requirements.txt"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  -r fixtures/subjects/requirements.txt
python3 -c "import dnslib, dns.version, redis; print('dnslib', dnslib.version, '/ dnspython', dns.version.version, '/ redis-py', redis.__version__)"
