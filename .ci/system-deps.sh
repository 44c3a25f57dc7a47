#!/usr/bin/env bash
# Installs the Debian packages the tests use for real (PostgreSQL server, Chromium, nginx) when missing.
# Needs root (as in CI); elsewhere it says what is missing and the tests that need it skip locally.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# nginx in front of two API replicas (tests/test_replicas.py)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
# a CJK font, or Chromium renders the Chinese editor page (and its screenshots) as empty boxes
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "warning: missing Debian packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}" >&2
fi
