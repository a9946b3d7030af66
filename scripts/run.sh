#!/usr/bin/env bash
# Start v2m on this machine with the embedded backends under ./var:
# SQLite for users and the queue, a directory for files, mail to an outbox.
# Ctrl-C stops everything. Usage: scripts/run.sh [BIN_DIR]   (make run does this)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${1:-build/bin}" && pwd)
VAR=${V2M_VAR:-$PWD/var}
mkdir -p "$VAR/store" "$VAR/outbox" "$VAR/log"
chmod 700 "$VAR"

# A secret of this installation, made once and kept.
if [ -z "${JWT_SECRET:-}" ]; then
  [ -s "$VAR/jwt_secret" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VAR/jwt_secret")
  JWT_SECRET=$(cat "$VAR/jwt_secret")
fi
# Only auth signs and checks tokens: the secret goes to it alone.
export -n JWT_SECRET 2>/dev/null || true
# The key of signed download links, shared by the gateway (checks them) and
# notification (puts them in mails), and by no one else.
if [ -z "${V2M_LINK_SECRET:-}" ]; then
  [ -s "$VAR/link_secret" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VAR/link_secret")
  V2M_LINK_SECRET=$(cat "$VAR/link_secret")
fi
export -n V2M_LINK_SECRET 2>/dev/null || true
export V2M_USERS=${V2M_USERS:-sqlite://$VAR/users.db}
export V2M_STORE=${V2M_STORE:-file://$VAR/store}
export V2M_QUEUE=${V2M_QUEUE:-sqlite://$VAR/queue.db}
export V2M_OUTBOX=${V2M_OUTBOX:-$VAR/outbox}
GATEWAY_PORT=${GATEWAY_PORT:-8080}
AUTH_PORT=${AUTH_PORT:-5000}
export AUTH_SVC_ADDRESS=${AUTH_SVC_ADDRESS:-127.0.0.1:$AUTH_PORT}
export V2M_PUBLIC_URL=${V2M_PUBLIC_URL:-http://localhost:$GATEWAY_PORT}

# The first user: V2M_ADMIN_EMAIL / V2M_ADMIN_PASSWORD, or made up and printed.
email=${V2M_ADMIN_EMAIL:-admin@localhost.localdomain}
if ! "$BIN/v2m-admin" user list 2>/dev/null | cut -f1 | grep -qxF "$email"; then
  pw=${V2M_ADMIN_PASSWORD:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  printf '%s\n' "$pw" | "$BIN/v2m-admin" user add "$email" --admin --password-stdin
  created=1
else
  pw=${V2M_ADMIN_PASSWORD:-}
  created=0
fi

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "v2m: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
  echo "v2m: stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

start() { # name listen
  local name=$1 listen=$2 secret= links=
  [ -x "$BIN/$name" ] || return 0
  [ "$name" = v2m-auth ] && secret=$JWT_SECRET
  case $name in v2m-gateway | v2m-notification) links=$V2M_LINK_SECRET ;; esac
  env -u JWT_SECRET -u V2M_LINK_SECRET ${secret:+JWT_SECRET="$secret"} \
    ${links:+V2M_LINK_SECRET="$links"} V2M_LISTEN="$listen" "$BIN/$name" >>"$VAR/log/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://$listen/healthz" >/dev/null 2>&1 && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "v2m: $name failed to start:"; tail -5 "$VAR/log/$name.log"; exit 1; }
    sleep 0.1
  done
  echo "v2m: $name did not answer /healthz on $listen"; exit 1
}
start v2m-auth "127.0.0.1:$AUTH_PORT"
start v2m-converter "127.0.0.1:${CONVERTER_PORT:-8081}"
start v2m-notification "127.0.0.1:${NOTIFICATION_PORT:-8082}"
start v2m-gateway "0.0.0.0:$GATEWAY_PORT"

if [ -x "$BIN/v2m-gateway" ]; then url=http://localhost:$GATEWAY_PORT; else url=http://localhost:$AUTH_PORT; fi
cat <<TXT

v2m is running: $url   (open it in a browser; logs in $VAR/log, mail in $V2M_OUTBOX)
TXT
if [ "$created" = 1 ]; then
  echo "Created user $email with password $pw (v2m-admin manages users)."
else
  echo "User $email already exists (its password is unchanged)."
fi
cat <<TXT

  # 1. log in: the answer is your token (a wrong password stops here, with the reason)
  TOKEN=\$(curl -fsS -X POST -u '$email:${pw:-PASSWORD}' $url/login)
TXT
if [ -x "$BIN/v2m-gateway" ]; then cat <<TXT
  # 2. upload a video: the answer names its job
  curl -sS --fail-with-body -X POST -F 'file=@video.mp4' -H "Authorization: Bearer \${TOKEN:?log in first}" $url/upload
  # 3. the mail in $V2M_OUTBOX has a download link that works in a browser;
  #    with the mp3 fid (in the mail, or GET $url/jobs) and the token:
  curl -sS --fail-with-body -o song.mp3 -H "Authorization: Bearer \${TOKEN:?log in first}" "$url/download?fid=MP3_FID"

  # Or, shorter, with the client: upload, wait, and video.mp3 beside the video
  export V2M_URL=$url
  $BIN/v2m login $email && $BIN/v2m convert video.mp4
TXT
else cat <<TXT
  # 2. check it
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" $url/validate
TXT
fi
echo; echo "Ctrl-C stops v2m."
wait -n "${pids[@]}" || true
echo "v2m: a service exited; see $VAR/log"
exit 1
