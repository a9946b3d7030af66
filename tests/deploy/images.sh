#!/usr/bin/env bash
# Build and check the v2m container images on this machine, with no registry:
#
#   1. a Debian 12 base image made with debootstrap (cached as a tarball) and
#      imported as debian:bookworm-slim and debian:bookworm;
#   2. the service images (deploy/docker/build.sh, podman, layer cache), plus
#      MariaDB and RabbitMQ images built from Debian's packages;
#   3. each binary's --version inside its image, and the image metadata
#      (non-root user, HEALTHCHECK, EXPOSE);
#   4. a smoke test on one container network: MariaDB with deploy/sql/init.sql
#      and auth doing the login flow; when the gateway, converter and
#      notification images exist, the whole login -> upload -> job -> download
#      flow through the gateway (RabbitMQ queue, file store on a shared
#      volume) and the notification mail in the outbox.
#
#   tests/deploy/images.sh [--no-smoke] [--keep] [--rebuild-base]
#
#   --no-smoke      stop after step 3
#   --keep          leave the smoke-test containers running (names v2m-smoke-*)
#   --rebuild-base  debootstrap the base again instead of using the cache
#
# Installs podman, runc, iptables, catatonit, debootstrap and the CNI plugins
# when missing (needs root). Cache: V2M_CACHE (default /var/cache/v2m).
# Podman reads tests/deploy/containers.conf (CONTAINERS_CONF); the machine's
# own container configuration is not touched.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${V2M_CACHE:-/var/cache/v2m}
export CONTAINERS_CONF=$here/containers.conf

smoke=1 keep=0 rebuild_base=0
for a in "$@"; do
  case $a in
    --no-smoke) smoke=0 ;;
    --keep) keep=1 ;;
    --rebuild-base) rebuild_base=1 ;;
    -h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "images.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

t_start=$(date +%s)
t_step=$t_start
OKS=0
log() {
  case $* in ok:*) OKS=$((OKS + 1)) ;; esac
  printf 'images: %s\n' "$*" >&2
}
die() { log "FAIL: $*"; exit 1; }
step() { # name: print the time the previous step took, announce the next
  local now
  now=$(date +%s)
  [ -z "${cur_step:-}" ] || log "-- $cur_step: $((now - t_step))s"
  t_step=$now cur_step=$1
  [ "$1" = "done" ] || log "== $1"
}

# ---------------------------------------------------------------- tools
ensure_tools() {
  local want=(podman runc iptables catatonit debootstrap containernetworking-plugins
    golang-github-containernetworking-plugin-dnsname curl) missing=() p
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "not root; install first: apt-get install -y ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
}

# ---------------------------------------------------------------- base image
# The Debian mirror this machine uses (its own apt sources), else deb.debian.org.
host_mirror() {
  local suffix=$1 u
  u=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources |
    grep -oE 'https?://[^ ]+' | sed 's:/*$::' | grep -E "/$suffix\$" | head -n1 || true)
  echo "${u:-http://deb.debian.org/$suffix}"
}

make_base_tarball() { # tarball
  local tarball=$1 mirror security rootfs
  mirror=$(host_mirror debian)
  security=$(host_mirror debian-security)
  rootfs=$cache/rootfs.$$
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase bookworm from $mirror (a few minutes, once)"
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -20 "$cache/debootstrap.log" >&2
    rm -rf "$rootfs"
    die "debootstrap failed (log: $cache/debootstrap.log)"
  fi
  # Like Debian's official images: deb822 sources with updates and security,
  # no packaged daemon starts during a build, no package caches.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/apt/* "$rootfs"/debootstrap
  find "$rootfs/var/log" -type f -name '*.log' -delete
  tar --numeric-owner -C "$rootfs" -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
}

ensure_base() {
  local tarball=$cache/debian-bookworm-minbase.tar.gz slim=docker.io/library/debian:bookworm-slim \
    full=docker.io/library/debian:bookworm
  mkdir -p "$cache"
  if [ $rebuild_base = 1 ]; then
    rm -f "$tarball"
    podman rmi -f "$slim" "$full" >/dev/null 2>&1 || true
  fi
  if podman image exists "$slim" && podman image exists "$full"; then
    log "base images present ($slim, $full)"
    return 0
  fi
  [ -s "$tarball" ] || make_base_tarball "$tarball"
  log "importing $tarball as $slim and $full"
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change 'LABEL org.v2m.base=debootstrap-minbase' \
    "$tarball" "$slim" >/dev/null
  podman tag "$slim" "$full"
}

# ---------------------------------------------------------------- images
built=()
build_images() {
  local list rc=0 s id names=(gateway auth converter notification mariadb rabbitmq)
  local -A old=()
  list=$(mktemp)
  # Remember the images the tags point at now, to drop them once replaced.
  for s in "${names[@]}"; do
    old[$s]=$(podman image inspect --format '{{.Id}}' "v2m-$s:latest" 2>/dev/null || true)
  done
  local blog=$cache/build.log
  V2M_BUILT_LIST=$list "$root/deploy/docker/build.sh" --engine podman -- --pull=never \
    >"$blog" 2>&1 || rc=$?
  mapfile -t built <"$list"
  rm -f "$list"
  if [ $rc != 0 ]; then
    grep -vE '^(debconf|Get:|Selecting|Preparing|Unpacking|Setting up|Processing)' "$blog" | tail -40 >&2
    die "service image build failed (built: ${built[*]:-none}); full log: $blog"
  fi
  for s in mariadb rabbitmq; do
    podman build --format docker --layers --pull=never -t "v2m-$s:latest" \
      "$root/deploy/docker/$s" >>"$blog" 2>&1 || { tail -40 "$blog" >&2; die "v2m-$s image build failed; full log: $blog"; }
  done
  for s in "${names[@]}"; do
    id=$(podman image inspect --format '{{.Id}}' "v2m-$s:latest" 2>/dev/null || true)
    if [ -n "${old[$s]}" ] && [ "${old[$s]}" != "$id" ]; then
      podman rmi "${old[$s]}" >/dev/null 2>&1 || true
    fi
  done
  log "images: $(podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '/v2m-' | sed 's:^localhost/::' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
}

has_built() { local s; for s in "${built[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

port_of() { case $1 in gateway) echo 8080 ;; auth) echo 5000 ;; converter) echo 8081 ;; notification) echo 8082 ;; esac; }

check_images() {
  local s out meta bin
  for s in "${built[@]}"; do
    for bin in "v2m-$s" $([ "$s" = auth ] && echo v2m-admin); do
      out=$(podman run --rm --no-healthcheck --entrypoint "/usr/local/bin/$bin" "v2m-$s:latest" --version 2>&1) ||
        die "$bin --version failed in v2m-$s: $out"
      [[ $out =~ ^$bin\ [0-9]+\.[0-9]+ ]] || die "$bin --version in v2m-$s printed '$out'"
      log "v2m-$s: $out"
    done
    meta=$(podman image inspect --format '{{.Config.User}}|{{json .Config.Healthcheck.Test}}|{{json .Config.ExposedPorts}}' "v2m-$s:latest")
    [[ $meta == 10001:10001\|* ]] || die "v2m-$s does not run as the non-root user 10001: $meta"
    [[ $meta == *v2m-healthcheck* ]] || die "v2m-$s has no HEALTHCHECK: $meta"
    [[ $meta == *\"$(port_of "$s")/tcp\"* ]] || die "v2m-$s does not EXPOSE $(port_of "$s"): $meta"
  done
  for s in gateway converter notification; do
    has_built "$s" || log "SKIP v2m-$s: not built (no src/$s/CMakeLists.txt yet)"
  done
}

# ---------------------------------------------------------------- smoke test
P=v2m-smoke-$$
net=$P-net
work=
ctrs=()

cleanup() {
  local c
  [ -n "$work" ] || return 0
  if [ $keep = 1 ]; then
    log "--keep: containers ${ctrs[*]} on network $net left running; data in $work"
    return 0
  fi
  for c in "${ctrs[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  podman network rm -f "$net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

dump_logs() {
  local c
  for c in "${ctrs[@]}"; do
    log "---- logs of $c"
    podman logs --tail 40 "$c" 2>&1 | sed 's/^/    /' >&2 || true
  done
}
fail() { dump_logs; die "$*"; }

run_ctr() { # name [podman run args...] image [args...]: a detached container on the network
  local name=$1
  shift
  ctrs+=("$P-$name")
  podman run -d --init --no-healthcheck --name "$P-$name" --network "$net" --network-alias "$name" \
    "$@" >/dev/null || fail "could not start $name"
}

# Requests go out from a client container on the same network (the runtime image has curl).
cx() { podman exec "$P-client" "$@"; }
http() { # method url [curl args...] -> prints "STATUS BODY" (body from the client's /tmp/body)
  local m=$1 u=$2 code
  shift 2
  code=$(cx curl -sS -o /tmp/body -w '%{http_code}' -X "$m" --max-time 30 "$@" "$u" 2>/dev/null) || code=000
  printf '%s %s' "$code" "$(cx head -c 2000 /tmp/body 2>/dev/null | tr -d '\0')"
}

wait_ready() { # name url seconds
  local name=$1 url=$2 n=$(($3 * 2)) r
  while ((n-- > 0)); do
    r=$(http GET "$url")
    [ "${r%% *}" = 200 ] && { log "$name ready"; return 0; }
    podman container exists "$P-$name" && [ "$(podman inspect --format '{{.State.Running}}' "$P-$name")" = true ] ||
      fail "$name exited"
    sleep 0.5
  done
  fail "$name not ready after $3 s: $url answered '$r'"
}

expect() { # what expected-status actual
  [ "${3%% *}" = "$2" ] || fail "$1: expected $2, got '${3:0:300}'"
  log "ok: $1 -> $2"
}

make_clip() { # dir: a short media file to upload; prints its name
  if command -v ffmpeg >/dev/null; then
    ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=440:duration=3" \
      -f lavfi -i "color=c=blue:s=160x120:d=3" -shortest -c:v mpeg4 -c:a aac "$1/clip.mp4" &&
      { echo clip.mp4; return; }
  fi
  # No ffmpeg: a 3 s 8 kHz mono WAV tone is media too.
  python3 - "$1/clip.wav" <<'EOF'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(24000)))
EOF
  echo clip.wav
}

json_field() { # field: read JSON on stdin, print the field ('' when null or absent)
  python3 -c 'import json,sys
try: v = json.load(sys.stdin).get(sys.argv[1])
except Exception: v = None
print("" if v is None else v)' "$1"
}

smoke_test() {
  local full=1 s r token vfid status mp3 i clip head
  for s in gateway converter notification; do has_built "$s" || full=0; done
  has_built auth || die "no v2m-auth image"
  work=$(mktemp -d /tmp/v2m-smoke.XXXXXX)
  mkdir -p "$work/data" "$work/in"
  chown 10001:10001 "$work/data"
  chmod 755 "$work" "$work/in"
  podman network create "$net" >/dev/null

  run_ctr client --entrypoint sleep -v "$work/in:/in:ro" v2m-auth:latest infinity
  run_ctr mariadb -e MARIADB_ROOT_PASSWORD=smoke-root \
    -v "$root/deploy/sql/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" v2m-mariadb:latest
  if [ $full = 1 ]; then run_ctr rabbitmq v2m-rabbitmq:latest; fi
  run_ctr auth -e JWT_SECRET=smoke-secret-0123456789 -e MYSQL_HOST=mariadb \
    -e MYSQL_USER=auth_user -e MYSQL_PASSWORD=Auth123 -e MYSQL_DB=auth -e MYSQL_PORT=3306 \
    v2m-auth:latest

  wait_ready auth http://auth:5000/readyz 90
  r=$(http POST http://auth:5000/login -u georgio@email.com:Admin123)
  expect "auth POST /login (demo user from init.sql)" 200 "$r"
  token=${r#* }
  [[ $token =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "login body is not a JWT: $token"
  r=$(http POST http://auth:5000/validate -H "Authorization: Bearer $token")
  expect "auth POST /validate" 200 "$r"
  [[ $r == *georgio@email.com* ]] || fail "validate claims lack the username: $r"
  expect "auth POST /login, wrong password" 401 "$(http POST http://auth:5000/login -u georgio@email.com:nope)"
  expect "auth POST /validate, forged token" 403 \
    "$(http POST http://auth:5000/validate -H "Authorization: Bearer ${token%.*}.AAAA")"
  podman exec "$P-auth" /usr/local/bin/v2m-healthcheck || fail "the HEALTHCHECK command fails in auth"
  log "ok: HEALTHCHECK command in auth"
  r=$(podman exec "$P-auth" v2m-admin user list 2>&1) || fail "v2m-admin user list failed: $r"
  [[ $r == *georgio@email.com* ]] || fail "v2m-admin user list lacks the demo user: $r"
  log "ok: v2m-admin user list in the auth image"

  if [ $full = 0 ]; then
    log "SKIP the gateway flow: gateway, converter and notification images are not all built"
    return 0
  fi
  local q=amqp://guest:guest@rabbitmq:5672/
  local links=smoke-link-secret-0123456789
  run_ctr gateway -v "$work/data:/data" -e AUTH_SVC_ADDRESS=auth:5000 \
    -e V2M_STORE=file:///data/store -e V2M_QUEUE=$q -e V2M_LINK_SECRET=$links v2m-gateway:latest
  run_ctr converter -v "$work/data:/data" -e V2M_STORE=file:///data/store \
    -e V2M_QUEUE=$q -e V2M_CONVERTER_THREADS=1 v2m-converter:latest
  run_ctr notification -v "$work/data:/data" -e V2M_QUEUE=$q -e V2M_LINK_SECRET=$links \
    -e V2M_OUTBOX=/data/outbox -e V2M_PUBLIC_URL=http://gateway:8080 v2m-notification:latest
  wait_ready gateway http://gateway:8080/readyz 120
  wait_ready converter http://converter:8081/readyz 60
  wait_ready notification http://notification:8082/readyz 60
  for s in gateway converter notification; do
    podman exec "$P-$s" /usr/local/bin/v2m-healthcheck || fail "the HEALTHCHECK command fails in $s"
  done
  log "ok: HEALTHCHECK command in gateway, converter, notification"

  r=$(http POST http://gateway:8080/login -u georgio@email.com:Admin123)
  expect "gateway POST /login" 200 "$r"
  token=${r#* }
  expect "gateway POST /upload without a token" 401 "$(http POST http://gateway:8080/upload)"
  expect "gateway GET /download without fid" 400 \
    "$(http GET http://gateway:8080/download -H "Authorization: Bearer $token")"
  clip=$(make_clip "$work/in")
  chmod 644 "$work/in/$clip"
  r=$(http POST http://gateway:8080/upload -H "Authorization: Bearer $token" -F "file=@/in/$clip")
  expect "gateway POST /upload ($clip)" 200 "$r"
  vfid=$(json_field video_fid <<<"${r#* }")
  [[ $vfid =~ ^[0-9a-f]{24}$ ]] || fail "upload answer has no video_fid: $r"
  for ((i = 0; i < 240; i++)); do
    r=$(http GET "http://gateway:8080/jobs/$vfid" -H "Authorization: Bearer $token")
    status=$(json_field status <<<"${r#* }")
    if [ "$status" = "done" ] || [ "$status" = "failed" ]; then break; fi
    sleep 0.5
  done
  [ "$status" = "done" ] || fail "job $vfid did not finish: $r"
  mp3=$(json_field mp3_fid <<<"${r#* }")
  log "ok: job $vfid done, mp3_fid=$mp3"
  r=$(http GET "http://gateway:8080/download?fid=$mp3" -H "Authorization: Bearer $token" -D /tmp/headers)
  [ "${r%% *}" = 200 ] || fail "gateway GET /download: expected 200, got '${r:0:300}'"
  head=$(cx sh -c 'head -c 3 /tmp/body | od -An -tx1 | tr -d " \n"')
  [[ $head == 494433 || $head == fff* ]] || fail "download is not an MP3 (first bytes $head)"
  cx grep -qi "filename=\"${clip%.*}.mp3\"; filename\*=UTF-8''${clip%.*}.mp3" /tmp/headers ||
    fail "download lacks Content-Disposition ${clip%.*}.mp3"
  log "ok: gateway GET /download -> 200, $(cx stat -c %s /tmp/body) bytes of MP3"
  for ((i = 0; i < 60; i++)); do
    grep -rqs "mp3 file_id: $mp3 is now ready!" "$work/data/outbox" && break
    sleep 0.5
  done
  grep -rqs "mp3 file_id: $mp3 is now ready!" "$work/data/outbox" ||
    fail "no notification mail for $mp3 in the outbox"
  log "ok: notification mail in the outbox"
}

# ---------------------------------------------------------------- main
main() {
  step "tools"
  ensure_tools
  step "base image"
  ensure_base
  step "build images"
  build_images
  step "check images"
  check_images
  if [ $smoke = 1 ]; then
    step "smoke test"
    smoke_test
  fi
  step "done"
  log "PASS in $(($(date +%s) - t_start))s"
  # The closing line test runners print: every check above stops at its failure.
  printf 'images: %d passed, 0 failed\n' "$OKS"
}
# Everything above is read before anything runs: editing this file during a
# run cannot derail it.
main; exit
