#!/usr/bin/env bash
# Real servers for v2m's tests: MariaDB, RabbitMQ, maildev (SMTP sink with a
# REST API) and the MongoDB wire-protocol emulator, each on free loopback ports
# in a private temporary directory, always stopped again.
#
#   services.sh run [--only mysql,amqp,smtp,mongo] -- CMD ARGS...
#   services.sh start [--only LIST] [DIR]      # leave running; source DIR/env
#   services.sh stop [DIR]
#   services.sh mysql-stop [--kill] | mysql-start | amqp-stop [--kill] | amqp-start
#
# See tests/harness/README.md for the exported variables.

set -u -o pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HARNESS_DIR/$(basename "${BASH_SOURCE[0]}")"
PROJECT_ROOT=$(git -C "$HARNESS_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$HARNESS_DIR/../.." && pwd))
PY=/usr/bin/python3
ALL_SERVICES="mysql amqp smtp mongo"
START_TIMEOUT=${V2M_TEST_START_TIMEOUT:-120}
MARKER=.v2m-test-state

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
  sed -n '/^#   services.sh/s/^#   /usage: /p' "$SELF" >&2
  exit 2
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

find_bin() { # name [extra dirs...]: absolute path or empty
  local name=$1 d
  shift
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in "$@" /usr/sbin /sbin /usr/local/sbin; do
    [[ -x $d/$name ]] && { echo "$d/$name"; return 0; }
  done
  return 1
}

# ---------------------------------------------------------------- processes

alive() { # pid: running and not a zombie
  local pid=${1:-} st
  [[ -n $pid && -d /proc/$pid ]] || return 1
  st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
  [[ -n $st && $st != Z && $st != X ]]
}

cmdline_has() { # pid token: the process's command line contains token
  local cl
  cl=$( { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
  [[ $cl == *"$2"* ]]
}

pids_with() { # token...: pids (other than this shell) whose command line contains a token
  ps -e -ww -o pid=,args= 2>/dev/null | awk -v self="$$" -v sub_="$BASHPID" '
    BEGIN { for (i = 1; i < ARGC; i++) tok[i] = ARGV[i]; n = ARGC - 1; ARGC = 1 }
    {
      pid = $1; if (pid == self || pid == sub_) next
      line = $0; sub(/^[ \t]*[0-9]+[ \t]+/, "", line)
      for (i = 1; i <= n; i++) if (tok[i] != "" && index(line, tok[i])) { print pid; next }
    }' "$@"
}

wait_gone() { # pid seconds
  local pid=$1 n=$(($2 * 10))
  while alive "$pid" && ((n-- > 0)); do sleep 0.1; done
  ! alive "$pid"
}

stop_pid() { # what pid token timeout [signal]: stop one process we started
  local what=$1 pid=${2:-} token=$3 timeout=$4 sig=${5:-TERM}
  [[ -n $pid ]] && alive "$pid" || return 0
  if [[ -n $token ]] && ! cmdline_has "$pid" "$token"; then
    return 0 # stale pid file: that pid now belongs to something else
  fi
  kill -s "$sig" "$pid" 2>/dev/null
  wait_gone "$pid" "$timeout" && return 0
  log "$what (pid $pid) did not stop within ${timeout}s; killing it"
  kill -KILL "$pid" 2>/dev/null
  wait_gone "$pid" 5 || log "warning: $what (pid $pid) survived SIGKILL"
}

read_pid() { [[ -s $1 ]] && tr -dc '0-9' <"$1"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_ports() { # n: n distinct free loopback TCP ports
  "$PY" - "$1" 2>/dev/null <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

log_tail() { # what file...
  local what=$1 f
  shift
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf '%s\n' "----- $what: last lines of $f -----" >&2
    tail -n 30 "$f" >&2
  done
  printf '%s\n' "----- end of $what logs -----" >&2
}

addr_in_use() { # file...: the logs speak of a port collision
  local f
  for f in "$@"; do
    [[ -f $f ]] && tail -n 60 "$f" | grep -qiE 'eaddrinuse|address already in use|bind on tcp/ip port' && return 0
  done
  return 1
}

# ---------------------------------------------------------------- mysql

MARIADBD=
mysql_bins() {
  MARIADBD=$(find_bin mariadbd) || die "mariadbd not found (apt-get install mariadb-server)"
  find_bin mariadb-install-db >/dev/null || die "mariadb-install-db not found (apt-get install mariadb-server)"
  find_bin mysqladmin >/dev/null || die "mysqladmin not found (apt-get install mariadb-client)"
  find_bin mysql >/dev/null || die "mysql client not found (apt-get install mariadb-client)"
}

mysql_launch() { # uses MYSQL_* from vars
  local d=$STATE/mysql user=()
  [[ $(id -u) == 0 ]] && user=(--user=root)
  (
    cd "$d" || exit 1
    exec setsid "$MARIADBD" --no-defaults "${user[@]}" \
      --datadir="$d/data" --socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" \
      --port="$MYSQL_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
      --log-error="$d/mysqld.log" --tmpdir="$d/tmp" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --innodb-buffer-pool-size=64M --innodb-log-file-size=8M \
      --innodb-flush-log-at-trx-commit=2 --max-connections=500
  ) </dev/null >>"$d/mysqld.out" 2>&1 &
  echo $! >"$d/server.pid"
  disown $! # stop and the sweep take care of it; no job notices
}

mysql_wait() { # with_password(0|1)
  local d=$STATE/mysql pid deadline=$((SECONDS + START_TIMEOUT))
  pid=$(read_pid "$d/server.pid")
  while :; do
    alive "$pid" || { log "mysql: mariadbd exited during startup"; return 1; }
    stopping && { log "mysql: the services are being stopped"; return 1; }
    [[ -S $d/mysqld.sock ]] &&
      mysqladmin --no-defaults --protocol=socket --socket="$d/mysqld.sock" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1 && break
    ((SECONDS < deadline)) || { log "mysql: not ready after ${START_TIMEOUT}s"; return 1; }
    sleep 0.1
  done
  if [[ $1 == 0 ]]; then
    mysql --no-defaults --protocol=socket --socket="$d/mysqld.sock" -uroot <<SQL || return 1
ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY '$MYSQL_PASSWORD';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASSWORD';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  MYSQL_PWD=$MYSQL_PASSWORD mysql --no-defaults --protocol=tcp -h127.0.0.1 -P"$MYSQL_PORT" \
    -uroot -N -e 'SELECT 1' >/dev/null || { log "mysql: TCP login as root failed"; return 1; }
}

mysql_kill() { # [signal]
  local d=$STATE/mysql
  stop_pid mysql "$(read_pid "$d/server.pid")" "--datadir=$d/data" 20 "${1:-TERM}"
}

start_mysql() {
  local d=$STATE/mysql attempt user=()
  mkdir -p "$d/tmp"
  MYSQL_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  [[ $(id -u) == 0 ]] && user=(--user=root)
  if ! mariadb-install-db --no-defaults --datadir="$d/data" --auth-root-authentication-method=normal \
    "${user[@]}" --skip-test-db --innodb-log-file-size=8M --tmpdir="$d/tmp" \
    >"$d/install.log" 2>&1; then
    log "mysql: mariadb-install-db failed"
    grep -iE 'error|warn' "$d/install.log" | head -n 20 >&2
    log_tail mysql "$d/install.log"
    return 1
  fi
  for attempt in 1 2 3; do
    MYSQL_PORT=$(free_ports 1)
    printf 'MYSQL_PORT=%q\nMYSQL_PASSWORD=%q\n' "$MYSQL_PORT" "$MYSQL_PASSWORD" >"$d/vars"
    mysql_launch
    mysql_wait 0 && return 0
    mysql_kill KILL
    if ((attempt < 3)) && addr_in_use "$d/mysqld.log"; then
      log "mysql: port $MYSQL_PORT was taken, retrying on another"
      continue
    fi
    break
  done
  log_tail mysql "$d/mysqld.log" "$d/mysqld.out"
  return 1
}

env_mysql() {
  local d=$STATE/mysql
  # shellcheck disable=SC1091
  . "$d/vars"
  printf 'export V2M_TEST_MYSQL_URL=%q\n' "mysql://root:$MYSQL_PASSWORD@127.0.0.1:$MYSQL_PORT/"
  printf 'export V2M_TEST_MYSQL_HOST=127.0.0.1\n'
  printf 'export V2M_TEST_MYSQL_PORT=%q\n' "$MYSQL_PORT"
  printf 'export V2M_TEST_MYSQL_USER=root\n'
  printf 'export V2M_TEST_MYSQL_PASSWORD=%q\n' "$MYSQL_PASSWORD"
  printf 'export V2M_TEST_MYSQL_SOCKET=%q\n' "$d/mysqld.sock"
}

# ---------------------------------------------------------------- amqp

RABBIT_BIN=/usr/lib/rabbitmq/bin
EPMD=
amqp_bins() {
  [[ -x $RABBIT_BIN/rabbitmq-server ]] || die "$RABBIT_BIN/rabbitmq-server not found (apt-get install rabbitmq-server)"
  EPMD=$(find_bin epmd /usr/lib/erlang/bin) || die "epmd not found (apt-get install erlang-base)"
}

amqp_env() { # in a subshell: the private node's environment
  local d=$STATE/amqp
  export HOME=$d/home # the Erlang cookie lives here
  export RABBITMQ_NODENAME=$AMQP_NODE
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$AMQP_PORT
  export RABBITMQ_DIST_PORT=$AMQP_DIST_PORT
  export RABBITMQ_MNESIA_BASE=$d/mnesia
  export RABBITMQ_LOG_BASE=$d/log
  export RABBITMQ_PID_FILE=$d/beam.pid
  # No config file: the defaults serve (guest only from loopback), and without
  # one the node skips the config translation that costs seconds at startup.
  export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config
  export RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins
  # -v2m_test_node only marks the command line, so that stop can always find the node.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false -v2m_test_node $AMQP_NODE"
  export RABBITMQ_CTL_ERL_ARGS="-start_epmd false"
  export RABBITMQ_CTL_DIST_PORT_MIN=0 RABBITMQ_CTL_DIST_PORT_MAX=0
  export ERL_EPMD_PORT=$AMQP_EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_CRASH_DUMP=$d/erl_crash.dump
  unset RABBITMQ_CONFIG_FILES RABBITMQ_USE_LONGNAME
}

amqp_answers() { # the port speaks AMQP (answers the protocol header with a frame)
  "$PY" - "$AMQP_PORT" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
s.settimeout(2)
s.sendall(b"AMQP\x00\x00\x09\x01")
sys.exit(0 if s.recv(8)[:1] == b"\x01" else 1)
EOF
}

amqp_epmd() { # make sure our epmd runs
  local d=$STATE/amqp n=50
  alive "$(read_pid "$d/epmd.pid")" && return 0
  ("$EPMD" -port "$AMQP_EPMD_PORT" -address 127.0.0.1 </dev/null >>"$d/epmd.log" 2>&1 &
    echo $! >"$d/epmd.pid") # epmd stays in the foreground: its pid is $!
  while ! port_open "$AMQP_EPMD_PORT"; do
    if ! alive "$(read_pid "$d/epmd.pid")" || ((n-- <= 0)); then
      log "amqp: epmd did not start"
      return 1
    fi
    sleep 0.1
  done
}

amqp_launch() {
  local d=$STATE/amqp
  rm -f "$d/beam.pid"
  amqp_epmd || return 1
  (
    cd "$d" || exit 1
    amqp_env
    exec setsid "$RABBIT_BIN/rabbitmq-server" -detached
  ) </dev/null >>"$d/startup.log" 2>&1
}

amqp_wait() {
  local d=$STATE/amqp pid="" deadline=$((SECONDS + START_TIMEOUT)) gone=0
  while :; do
    [[ -z $pid ]] && pid=$(read_pid "$d/beam.pid")
    if [[ -n $pid ]]; then
      alive "$pid" || { log "amqp: the RabbitMQ node exited during startup"; return 1; }
      stopping && { log "amqp: the services are being stopped"; return 1; }
      port_open "$AMQP_PORT" && amqp_answers && return 0
    elif [[ -z $(pids_with "-v2m_test_node $AMQP_NODE") ]]; then
      # no pid file yet and no process of the node: it died early
      ((++gone >= 5)) && { log "amqp: the RabbitMQ node exited during startup"; return 1; }
    else
      gone=0
    fi
    ((SECONDS < deadline)) || { log "amqp: not ready after ${START_TIMEOUT}s"; return 1; }
    sleep 0.2
  done
}

amqp_kill() { # [signal]: stop the node (epmd stays)
  local d=$STATE/amqp p
  stop_pid amqp "$(read_pid "$d/beam.pid")" "$AMQP_NODE" 20 "${1:-TERM}"
  for p in $(pids_with "-v2m_test_node $AMQP_NODE"); do stop_pid amqp "$p" "$AMQP_NODE" 5 KILL; done
  rm -f "$d/beam.pid"
}

amqp_stop_epmd() {
  local d=$STATE/amqp
  stop_pid epmd "$(read_pid "$d/epmd.pid")" "-port $AMQP_EPMD_PORT" 5
}

start_amqp() {
  local d=$STATE/amqp attempt
  mkdir -p "$d/home" "$d/mnesia" "$d/log"
  echo '[].' >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf"
  AMQP_NODE="v2m-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')@localhost"
  for attempt in 1 2 3; do
    read -r AMQP_PORT AMQP_DIST_PORT AMQP_EPMD_PORT <<<"$(free_ports 3)"
    printf 'AMQP_NODE=%q\nAMQP_PORT=%q\nAMQP_DIST_PORT=%q\nAMQP_EPMD_PORT=%q\n' \
      "$AMQP_NODE" "$AMQP_PORT" "$AMQP_DIST_PORT" "$AMQP_EPMD_PORT" >"$d/vars"
    amqp_launch && amqp_wait && return 0
    amqp_kill KILL
    amqp_stop_epmd
    if ((attempt < 3)) && addr_in_use "$d/log/$AMQP_NODE.log" "$d/startup.log" "$d/epmd.log"; then
      log "amqp: a port was taken, retrying on others"
      continue
    fi
    break
  done
  log_tail amqp "$d/log/$AMQP_NODE.log" "$d/startup.log" "$d/epmd.log" "$d/erl_crash.dump"
  return 1
}

env_amqp() {
  # shellcheck disable=SC1091
  . "$STATE/amqp/vars"
  printf 'export V2M_TEST_AMQP_URL=%q\n' "amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
  printf 'export V2M_TEST_AMQP_PORT=%q\n' "$AMQP_PORT"
}

# ---------------------------------------------------------------- smtp (maildev)

MAILDEV=
smtp_bins() {
  local bin=$HARNESS_DIR/node_modules/.bin/maildev
  [[ -e $bin ]] || die "maildev not found at $bin; run make deps (or: npm ci --prefix tests/harness)"
  MAILDEV=$(readlink -f "$bin")
  command -v node >/dev/null 2>&1 || die "node not found (apt-get install nodejs)"
}

start_smtp() {
  local d=$STATE/smtp attempt deadline pid
  mkdir -p "$d/mail"
  for attempt in 1 2 3; do
    read -r SMTP_PORT MAILDEV_PORT <<<"$(free_ports 2)"
    printf 'SMTP_PORT=%q\nMAILDEV_PORT=%q\n' "$SMTP_PORT" "$MAILDEV_PORT" >"$d/vars"
    (
      cd "$d" || exit 1
      exec setsid node "$MAILDEV" --ip 127.0.0.1 --web-ip 127.0.0.1 \
        --smtp "$SMTP_PORT" --web "$MAILDEV_PORT" --mail-directory "$d/mail"
    ) </dev/null >>"$d/maildev.log" 2>&1 &
    pid=$!
    disown "$pid"
    echo "$pid" >"$d/server.pid"
    deadline=$((SECONDS + START_TIMEOUT))
    while alive "$pid" && ((SECONDS < deadline)); do
      if port_open "$SMTP_PORT" && port_open "$MAILDEV_PORT" &&
        [[ $(curl -s --max-time 2 "http://127.0.0.1:$MAILDEV_PORT/healthz" 2>/dev/null) == true ]]; then
        return 0
      fi
      sleep 0.1
    done
    if alive "$pid"; then log "smtp: maildev not ready after ${START_TIMEOUT}s"; else log "smtp: maildev exited during startup"; fi
    stop_pid smtp "$pid" "$d/mail" 5 KILL
    if ((attempt < 3)) && addr_in_use "$d/maildev.log"; then
      log "smtp: a port was taken, retrying on others"
      continue
    fi
    break
  done
  log_tail smtp "$d/maildev.log"
  return 1
}

env_smtp() {
  # shellcheck disable=SC1091
  . "$STATE/smtp/vars"
  printf 'export V2M_TEST_SMTP_URL=%q\n' "smtp://127.0.0.1:$SMTP_PORT"
  printf 'export V2M_TEST_MAILDEV_API=%q\n' "http://127.0.0.1:$MAILDEV_PORT"
}

# ---------------------------------------------------------------- mongo (emulator)

MONGO_EMULATOR=
mongo_find() { # sets MONGO_EMULATOR, or warns loudly and returns 1
  local c
  for c in ${V2M_MONGO_EMULATOR:+"$V2M_MONGO_EMULATOR"} \
    "$PROJECT_ROOT/../shared/tools/mongo-emulator.py" \
    "$HARNESS_DIR/../../../shared/tools/mongo-emulator.py"; do
    [[ -f $c ]] && { MONGO_EMULATOR=$(readlink -f "$c"); return 0; }
  done
  c=$(readlink -m "$PROJECT_ROOT/../shared/tools/mongo-emulator.py")
  {
    echo "services: ##################################################################"
    echo "services: WARNING: MongoDB emulator not found at $c;"
    echo "services: WARNING: GridFS tests will skip; set V2M_TEST_MONGO_URI to use a real MongoDB"
    echo "services: ##################################################################"
  } >&2
  return 1
}

start_mongo() {
  local d=$STATE/mongo pid deadline=$((SECONDS + START_TIMEOUT)) port
  mkdir -p "$d"
  [[ -x $PY ]] || { log "mongo: $PY not found (apt-get install python3 python3-bson)"; return 1; }
  (
    cd "$d" || exit 1
    exec setsid "$PY" "$MONGO_EMULATOR" --host 127.0.0.1 --port 0 --port-file "$d/port"
  ) </dev/null >>"$d/emulator.log" 2>&1 &
  pid=$!
  disown "$pid"
  echo "$pid" >"$d/server.pid"
  while alive "$pid" && ((SECONDS < deadline)); do
    port=$(read_pid "$d/port")
    if [[ -n $port ]] && port_open "$port"; then
      printf 'MONGO_PORT=%q\n' "$port" >"$d/vars"
      return 0
    fi
    sleep 0.1
  done
  if alive "$pid"; then log "mongo: emulator not ready after ${START_TIMEOUT}s"; else log "mongo: emulator exited during startup"; fi
  stop_pid mongo "$pid" "$d/port" 5 KILL
  log_tail mongo "$d/emulator.log"
  return 1
}

env_mongo() {
  # shellcheck disable=SC1091
  . "$STATE/mongo/vars"
  printf 'export V2M_TEST_MONGO_URI=%q\n' "mongodb://127.0.0.1:$MONGO_PORT/"
}

# ---------------------------------------------------------------- all together

STARTUP_PIDS=()

parse_only() { # list -> SERVICES
  local s
  SERVICES=
  for s in ${1//,/ }; do
    [[ " $ALL_SERVICES " == *" $s "* ]] || { log "unknown service '$s' (known: ${ALL_SERVICES// /,})"; usage; }
    [[ " $SERVICES " == *" $s "* ]] || SERVICES="$SERVICES $s"
  done
  SERVICES=${SERVICES# }
}

# Starts $SERVICES into $STATE in parallel; writes $STATE/env. Returns 1 if any failed.
start_all() {
  local s t0 failed="" want=() pids=() i
  t0=$(now)
  { mkdir -p "$STATE" && touch "$STATE/$MARKER"; } || die "cannot create $STATE"
  for s in $SERVICES; do
    case $s in
      mysql) mysql_bins ;;
      amqp) amqp_bins ;;
      smtp) smtp_bins ;;
      mongo)
        if [[ -n ${V2M_TEST_MONGO_URI:-} ]]; then
          log "mongo: using V2M_TEST_MONGO_URI=$V2M_TEST_MONGO_URI from the environment"
          continue
        fi
        mongo_find || continue
        ;;
    esac
    want+=("$s")
  done
  printf '%s\n' "${want[@]}" >"$STATE/services"
  for s in "${want[@]}"; do
    (
      t=$(now)
      "start_$s" || exit 1
      [[ -n ${V2M_TEST_VERBOSE:-} ]] && log "$s ready in $(elapsed "$t")s"
      exit 0
    ) &
    pids+=($!)
    STARTUP_PIDS+=($!)
  done
  for i in "${!want[@]}"; do
    wait "${pids[$i]}" || failed="$failed ${want[$i]}"
  done
  STARTUP_PIDS=()
  if [[ -n $failed ]]; then
    log "error: could not start:$failed"
    return 1
  fi
  {
    printf 'export V2M_TEST_STATE=%q\n' "$STATE"
    for s in "${want[@]}"; do "env_$s"; done
    if [[ " $SERVICES " == *" mongo "* && -n ${V2M_TEST_MONGO_URI:-} && ! -f $STATE/mongo/vars ]]; then
      printf 'export V2M_TEST_MONGO_URI=%q\n' "$V2M_TEST_MONGO_URI"
    fi
  } >"$STATE/env.tmp" && mv "$STATE/env.tmp" "$STATE/env"
  log "ready in $(elapsed "$t0")s: ${want[*]:-nothing} (state in $STATE)"
}

# Stops whatever runs from $STATE, in parallel, then sweeps up leftovers.
stop_all() {
  local p tokens=() t0 lk
  t0=$(now)
  # No control command may start anything from now on; wait for one in progress.
  touch "$STATE/stopping" 2>/dev/null
  if { exec {lk}>>"$STATE/lock"; } 2>/dev/null; then
    flock -w 120 "$lk" 2>/dev/null || log "warning: a control command still holds $STATE/lock; stopping anyway"
  fi
  for p in "${STARTUP_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${STARTUP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  STARTUP_PIDS=()
  [[ -d $STATE/mysql ]] && (
    [[ -f $STATE/mysql/vars ]] && . "$STATE/mysql/vars"
    mysql_kill
  ) &
  [[ -f $STATE/amqp/vars ]] && (
    . "$STATE/amqp/vars"
    amqp_kill
    amqp_stop_epmd
  ) &
  [[ -f $STATE/smtp/server.pid ]] &&
    stop_pid smtp "$(read_pid "$STATE/smtp/server.pid")" "$STATE/smtp/mail" 10 &
  [[ -f $STATE/mongo/server.pid ]] &&
    stop_pid mongo "$(read_pid "$STATE/mongo/server.pid")" "$STATE/mongo/port" 5 &
  wait
  # Anything left over (for example started but not yet recorded when a signal came).
  tokens=("--datadir=$STATE/mysql/data" "$STATE/smtp/mail" "--port-file $STATE/mongo/port" "$STATE/amqp/mnesia")
  if [[ -f $STATE/amqp/vars ]]; then
    tokens+=("$(. "$STATE/amqp/vars" && echo "$AMQP_NODE")" "$(. "$STATE/amqp/vars" && echo "epmd -port $AMQP_EPMD_PORT ")")
  fi
  for p in $(pids_with "${tokens[@]}"); do
    log "stopping leftover process $p: $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-120)"
    kill -KILL "$p" 2>/dev/null
  done
  log "stopped in $(elapsed "$t0")s"
}

remove_state() {
  [[ -f $STATE/$MARKER ]] || return 0
  if [[ -n ${V2M_TEST_KEEP_STATE:-} ]]; then
    log "keeping $STATE (V2M_TEST_KEEP_STATE is set)"
  else
    rm -rf -- "$STATE"
  fi
}

any_alive() {
  local f
  for f in "$STATE"/mysql/server.pid "$STATE"/amqp/beam.pid "$STATE"/amqp/epmd.pid \
    "$STATE"/smtp/server.pid "$STATE"/mongo/server.pid; do
    alive "$(read_pid "$f" 2>/dev/null)" && return 0
  done
  return 1
}

# ---------------------------------------------------------------- commands

cmd_run() {
  local only=$ALL_SERVICES
  while (($#)); do
    case $1 in
      --only) [[ $# -ge 2 ]] || usage; only=$2; shift 2 ;;
      --only=*) only=${1#--only=}; shift ;;
      --) shift; break ;;
      *) usage ;;
    esac
  done
  (($#)) || usage
  parse_only "$only"
  local tmp=${TMPDIR:-/tmp}
  ((${#tmp} <= 60)) || tmp=/tmp # MariaDB's socket path must stay short
  STATE=$(mktemp -d "$tmp/v2m-test.XXXXXX") || die "mktemp failed"
  CHILD_PID=
  trap 'run_cleanup' EXIT
  trap 'run_signal INT 130' INT
  trap 'run_signal TERM 143' TERM
  trap 'run_signal HUP 129' HUP
  # Variables from an earlier `start` must not point the command at other servers.
  unset V2M_TEST_STATE V2M_TEST_MYSQL_URL V2M_TEST_MYSQL_HOST V2M_TEST_MYSQL_PORT \
    V2M_TEST_MYSQL_USER V2M_TEST_MYSQL_PASSWORD V2M_TEST_MYSQL_SOCKET \
    V2M_TEST_AMQP_URL V2M_TEST_AMQP_PORT V2M_TEST_SMTP_URL V2M_TEST_MAILDEV_API
  start_all || exit 1
  # shellcheck disable=SC1091
  . "$STATE/env"
  local in rc
  { exec {in}<&0; } 2>/dev/null || exec {in}</dev/null
  # In the background so that a signal to this script is handled at once; with
  # the default SIGINT/SIGQUIT handling that a background job would lose.
  env --default-signal=INT,QUIT -- "$@" <&"$in" {in}<&- &
  CHILD_PID=$!
  exec {in}<&-
  wait "$CHILD_PID"
  rc=$?
  CHILD_PID=
  exit "$rc"
}

descendants() { # pid: the pids of all its descendants
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (p in parent) {
        q = p
        while ((q in parent) && q != root && q > 1) q = parent[q]
        if (q == root && p != root) print p
      }
    }'
}

run_signal() { # signal exit-code
  local kids k
  trap '' INT TERM HUP PIPE
  log "got SIG$1; stopping"
  if [[ -n ${CHILD_PID:-} ]] && alive "$CHILD_PID"; then
    # The whole tree: a shell killed by TERM would leave its children running.
    kids=$(descendants "$CHILD_PID")
    # shellcheck disable=SC2086
    kill -s "$1" "$CHILD_PID" $kids 2>/dev/null
    wait_gone "$CHILD_PID" 10 || kill -KILL "$CHILD_PID" 2>/dev/null
    for k in $kids; do
      wait_gone "$k" 2 || kill -KILL "$k" 2>/dev/null
    done
  fi
  exit "$2"
}

run_cleanup() {
  local rc=$?
  # Nothing may stop the cleanup, not even a reader of our stderr that went away.
  trap '' INT TERM HUP PIPE
  stop_all
  if ((rc != 0)) && [[ -z ${V2M_TEST_KEEP_STATE:-} ]]; then
    log "exit status $rc (set V2M_TEST_KEEP_STATE=1 to keep the servers' logs in the state directory)"
  fi
  remove_state
}

default_dir() { echo "${TMPDIR:-/tmp}/v2m-test-services-$(id -u)"; }

cmd_start() {
  local only=$ALL_SERVICES dir=
  while (($#)); do
    case $1 in
      --only) [[ $# -ge 2 ]] || usage; only=$2; shift 2 ;;
      --only=*) only=${1#--only=}; shift ;;
      -*) usage ;;
      *) [[ -z $dir ]] || usage; dir=$1; shift ;;
    esac
  done
  parse_only "$only"
  dir=${dir:-$(default_dir)}
  mkdir -p "$dir" || die "cannot create $dir"
  STATE=$(cd "$dir" && pwd)
  if [[ -f $STATE/$MARKER ]]; then
    any_alive && die "services already run from $STATE; run: $SELF stop $STATE"
    rm -rf -- "${STATE:?}"/* "${STATE:?}/$MARKER"
  elif [[ -n $(ls -A "$STATE") ]]; then
    die "$STATE is not empty and not a state directory of this script"
  fi
  ((${#STATE} <= 80)) || die "$STATE is too long a path for MariaDB's socket; pick a shorter one"
  trap 'stop_all; remove_state' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  unset V2M_TEST_STATE
  start_all || exit 1
  trap - EXIT INT TERM
  log "running; use them with: source $STATE/env"
  log "stop them with:         $SELF stop $STATE"
  echo "$STATE/env"
}

state_from() { # [dir]
  STATE=${1:-${V2M_TEST_STATE:-$(default_dir)}}
  [[ -f $STATE/$MARKER ]] || die "$STATE is not a state directory of this script (is V2M_TEST_STATE set?)"
  STATE=$(cd "$STATE" && pwd)
}

cmd_stop() {
  (($# <= 1)) || usage
  state_from "${1:-}"
  trap '' INT TERM HUP PIPE
  stop_all
  remove_state
}

control_args() { # [--kill] -> SIG
  SIG=TERM
  while (($#)); do
    case $1 in
      --kill) SIG=KILL; shift ;;
      *) usage ;;
    esac
  done
}

cmd_mysql_stop() {
  control_args "$@"
  state_from ""
  [[ -f $STATE/mysql/vars ]] || die "mysql is not part of $STATE"
  . "$STATE/mysql/vars"
  mysql_kill "$SIG"
  rm -f "$STATE/mysql/mysqld.sock" "$STATE/mysql/mysqld.pid"
  log "mysql stopped (port $MYSQL_PORT)"
}

cmd_mysql_start() {
  (($# == 0)) || usage
  state_from ""
  [[ -f $STATE/mysql/vars ]] || die "mysql is not part of $STATE"
  . "$STATE/mysql/vars"
  mysql_bins
  if alive "$(read_pid "$STATE/mysql/server.pid")"; then
    log "mysql already running (port $MYSQL_PORT)"
    return 0
  fi
  local t0
  t0=$(now)
  port_open "$MYSQL_PORT" && die "mysql: port $MYSQL_PORT is taken by another process"
  mysql_launch
  if ! mysql_wait 1; then
    mysql_kill KILL
    log_tail mysql "$STATE/mysql/mysqld.log" "$STATE/mysql/mysqld.out"
    exit 1
  fi
  log "mysql started in $(elapsed "$t0")s (port $MYSQL_PORT)"
}

cmd_amqp_stop() {
  control_args "$@"
  state_from ""
  [[ -f $STATE/amqp/vars ]] || die "amqp is not part of $STATE"
  . "$STATE/amqp/vars"
  amqp_kill "$SIG"
  log "amqp stopped (port $AMQP_PORT)"
}

cmd_amqp_start() {
  (($# == 0)) || usage
  state_from ""
  [[ -f $STATE/amqp/vars ]] || die "amqp is not part of $STATE"
  . "$STATE/amqp/vars"
  amqp_bins
  if alive "$(read_pid "$STATE/amqp/beam.pid")"; then
    log "amqp already running (port $AMQP_PORT)"
    return 0
  fi
  local t0
  t0=$(now)
  port_open "$AMQP_PORT" && die "amqp: port $AMQP_PORT is taken by another process"
  if ! { amqp_launch && amqp_wait; }; then
    amqp_kill KILL
    stopping && amqp_stop_epmd
    log_tail amqp "$STATE/amqp/log/$AMQP_NODE.log" "$STATE/amqp/startup.log"
    exit 1
  fi
  log "amqp started in $(elapsed "$t0")s (port $AMQP_PORT)"
}

# Control commands run one at a time per state directory, under its lock, and
# never once a stop has begun (a stop takes the same lock, see stop_all).
# flock -o: the servers they start must not inherit and keep holding the lock.
locked() { # command args...
  local flock_bin
  state_from ""
  flock_bin=$(find_bin flock) || die "flock not found (apt-get install util-linux)"
  exec "$flock_bin" -o -w 600 "$STATE/lock" "$SELF" __locked "$@"
}

stopping() { # the state directory is being (or has been) stopped
  [[ -e $STATE/stopping || ! -f $STATE/$MARKER ]]
}

(($#)) || usage
cmd=$1
shift
case $cmd in
  run) cmd_run "$@" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  mysql-stop | mysql-start | amqp-stop | amqp-start) locked "$cmd" "$@" ;;
  __locked)
    (($#)) || usage
    state_from ""
    stopping && die "the services of $STATE are being stopped"
    cmd=$1
    shift
    case $cmd in
      mysql-stop) cmd_mysql_stop "$@" ;;
      mysql-start) cmd_mysql_start "$@" ;;
      amqp-stop) cmd_amqp_stop "$@" ;;
      amqp-start) cmd_amqp_start "$@" ;;
      *) usage ;;
    esac
    ;;
  -h | --help | help)
    sed -n '/^#   services.sh/s/^#   /usage: /p' "$SELF"
    exit 0
    ;;
  *) usage ;;
esac
