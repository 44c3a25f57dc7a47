#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (KEPU_TEST_POSTGRES_URL set), stopped afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  eval "$(bash "$here/postgres.sh" start)"
  trap 'bash "$here/postgres.sh" stop >/dev/null 2>&1 || true' EXIT
else
  echo "warning: PostgreSQL binaries not found; PostgreSQL store tests will skip (fail under CI=true)" >&2
fi
"$@"
