#!/usr/bin/env bash
# Throwaway PostgreSQL server for the store tests.
#   eval "$(bash .ci/postgres.sh start)"   # prints: export KEPU_TEST_POSTGRES_URL=...
#   bash .ci/postgres.sh stop              # stops the server and deletes its data folder
#   bash .ci/postgres.sh status            # prints the URL when a server from `start` is running
# The cluster lives in a fresh temp folder (trust auth, loopback only, random free port); its location
# and port are kept in a state file ($KEPU_PG_STATE_FILE; with-postgres.sh makes one per run) so `stop` finds it.
# initdb refuses to run as root, so as root the server runs as the `postgres` system user.
set -euo pipefail

STATE_FILE="${KEPU_PG_STATE_FILE:-/tmp/kepu-postgres-$(id -u).state}"

log() { echo "postgres.sh: $*" >&2; }

find_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  log "no PostgreSQL server binaries (initdb, pg_ctl) found; install the Debian 'postgresql' package"
  return 1
}

free_port() {
  # Ask the kernel for a free loopback port (python3 is always present where the tests run).
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the server's owner: the postgres user when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

read_state() {
  [ -f "$STATE_FILE" ] || return 1
  # shellcheck disable=SC1090
  . "$STATE_FILE"
  [ -n "${PGDATA_DIR:-}" ] && [ -n "${PGPORT_NUM:-}" ] && [ -n "${PGBIN_DIR:-}" ]
}

url_for() { echo "postgresql+psycopg2://postgres@127.0.0.1:$1/kepu_test"; }

cmd_start() {
  if read_state && as_owner "$PGBIN_DIR/pg_ctl" -D "$PGDATA_DIR/data" status >/dev/null 2>&1; then
    log "already running on port $PGPORT_NUM (state: $STATE_FILE)"
    echo "export KEPU_TEST_POSTGRES_URL=$(url_for "$PGPORT_NUM")"
    return 0
  fi
  # A state file without a running server is left over from a killed run: drop its data folder.
  if read_state; then case "$PGDATA_DIR" in /tmp/kepu-pg.*) rm -rf "$PGDATA_DIR" ;; esac; rm -f "$STATE_FILE"; fi
  local bin_dir base port
  bin_dir="$(find_bin_dir)"
  base="$(mktemp -d /tmp/kepu-pg.XXXXXX)"
  chmod 755 "$base"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$base"; fi
  port="$(free_port)"
  printf 'PGDATA_DIR=%q\nPGPORT_NUM=%q\nPGBIN_DIR=%q\n' "$base" "$port" "$bin_dir" >"$STATE_FILE"

  as_owner "$bin_dir/initdb" -D "$base/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
    || as_owner "$bin_dir/initdb" -D "$base/data" -A trust -U postgres -E UTF8 --locale=C >"$base/initdb.log" 2>&1 \
    || { log "initdb failed:"; cat "$base/initdb.log" >&2; return 1; }
  # Small, fast, throwaway: no fsync, few connections, socket in the temp folder, loopback TCP only.
  as_owner "$bin_dir/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
    -o "-p $port -k $base -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=32MB" \
    start >/dev/null \
    || { log "server failed to start:"; cat "$base/server.log" >&2; return 1; }
  as_owner "$bin_dir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE DATABASE kepu_test" >/dev/null \
    || { log "could not create database kepu_test"; return 1; }
  log "PostgreSQL $("$bin_dir/pg_ctl" --version | awk '{print $3}') running on 127.0.0.1:$port (data: $base)"
  echo "export KEPU_TEST_POSTGRES_URL=$(url_for "$port")"
}

cmd_stop() {
  if ! read_state; then log "nothing to stop (no state file $STATE_FILE)"; return 0; fi
  as_owner "$PGBIN_DIR/pg_ctl" -D "$PGDATA_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  case "$PGDATA_DIR" in /tmp/kepu-pg.*) rm -rf "$PGDATA_DIR" ;; esac
  rm -f "$STATE_FILE"
  log "stopped"
}

cmd_status() {
  if read_state && as_owner "$PGBIN_DIR/pg_ctl" -D "$PGDATA_DIR/data" status >/dev/null 2>&1; then
    echo "export KEPU_TEST_POSTGRES_URL=$(url_for "$PGPORT_NUM")"
  else
    log "not running"; return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
