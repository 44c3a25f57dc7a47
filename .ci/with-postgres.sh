#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (KEPU_TEST_POSTGRES_URL set), stopped afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  # One state file per run, so two runs by one user on one machine never share (or stop) a server.
  KEPU_PG_STATE_FILE="$(mktemp "${TMPDIR:-/tmp}/kepu-postgres-run.XXXXXX")"
  export KEPU_PG_STATE_FILE
  eval "$(bash "$here/postgres.sh" start)"
  trap 'bash "$here/postgres.sh" stop >/dev/null 2>&1 || true; rm -f "$KEPU_PG_STATE_FILE"' EXIT
else
  echo "warning: PostgreSQL binaries not found; PostgreSQL store tests will skip (fail under CI=true)" >&2
fi
"$@"
