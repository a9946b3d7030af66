#!/bin/sh
# First start on an empty datadir: create the system tables, set the root
# password, run /docker-entrypoint-initdb.d/*.sql; then run the server.
set -eu
datadir=/var/lib/mysql
sock=/run/mysqld/mysqld.sock

if [ "${1:-}" = mariadbd ] && [ ! -d "$datadir/mysql" ]; then
  if [ -z "${MARIADB_ROOT_PASSWORD:-}" ] && [ "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" != 1 ]; then
    echo "entrypoint: set MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1)" >&2
    exit 1
  fi
  echo "entrypoint: initialising $datadir" >&2
  mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal \
    --skip-name-resolve >/dev/null
  mariadbd --skip-networking --socket="$sock" &
  pid=$!
  i=0
  until mariadb-admin --socket="$sock" ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || { echo "entrypoint: server did not start" >&2; exit 1; }
    sleep 0.5
  done
  if [ -n "${MARIADB_ROOT_PASSWORD:-}" ]; then
    pw=$(printf '%s' "$MARIADB_ROOT_PASSWORD" | sed "s/'/''/g")
    mariadb --socket="$sock" -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] || continue
    echo "entrypoint: running $f" >&2
    mariadb --socket="$sock" -uroot ${MARIADB_ROOT_PASSWORD:+-p"$MARIADB_ROOT_PASSWORD"} <"$f"
  done
  kill "$pid"
  wait "$pid" || true
  echo "entrypoint: initialised" >&2
fi
exec "$@"
