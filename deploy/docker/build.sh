#!/usr/bin/env bash
# Build the v2m service images from this source tree.
#
#   deploy/docker/build.sh [--engine podman|docker] [--tag TAG] [SERVICE...] [-- ENGINE-BUILD-ARGS...]
#   deploy/docker/build.sh --context DIR      # only stage the build context into DIR
#
# SERVICE is gateway, auth, converter or notification (default: all four).
# A service whose sources (src/SERVICE/CMakeLists.txt) are not in the tree is
# skipped with a notice. Images are named v2m-SERVICE:TAG (TAG defaults to
# latest). The binaries are compiled once, in the shared `build` stage; the
# engine's layer cache makes a rebuild after a source change recompile only.
#
# The engine defaults to podman when installed, else docker. For minikube run
# `eval $(minikube docker-env)` first so that docker builds straight into the
# cluster's image store.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ALL_SERVICES=(gateway auth converter notification)

engine=${V2M_ENGINE:-}
tag=latest
context_only=
services=()
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --engine) engine=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --context) context_only=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) services+=("$1"); shift ;;
  esac
done
[ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")

binaries_of() {
  case $1 in
    gateway) echo v2m-gateway ;;
    auth) echo v2m-auth v2m-admin ;;
    converter) echo v2m-converter ;;
    notification) echo v2m-notification ;;
    *) echo "build.sh: unknown service '$1' (gateway, auth, converter, notification)" >&2; return 1 ;;
  esac
}

# Only the files the build needs: a few MB instead of the whole working tree
# with its build directories and node_modules.
stage_context() {
  local dir=$1
  mkdir -p "$dir/cmake" "$dir/deploy/docker"
  cp "$root/CMakeLists.txt" "$dir/"
  [ -d "$root/cmake" ] && cp -R "$root/cmake/." "$dir/cmake/"
  cp -R "$root/src" "$dir/src"
  cp -R "$root/web" "$dir/web"
  cp "$here/Dockerfile" "$here/v2m-healthcheck" "$dir/deploy/docker/"
}

if [ -n "$context_only" ]; then
  stage_context "$context_only"
  echo "build.sh: context staged in $context_only"
  exit 0
fi

build=() targets=()
for s in "${services[@]}"; do
  bins=$(binaries_of "$s")
  if [ ! -f "$root/src/$s/CMakeLists.txt" ]; then
    echo "build.sh: SKIP $s: src/$s/CMakeLists.txt is not in this tree yet" >&2
    continue
  fi
  build+=("$s")
  # shellcheck disable=SC2206
  targets+=($bins)
done
if [ ${#build[@]} -eq 0 ]; then
  echo "build.sh: nothing to build" >&2
  exit 1
fi

if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then engine=podman; else engine=docker; fi
fi
opts=()
# HEALTHCHECK is part of the docker image format only (podman defaults to OCI).
[ "$engine" = podman ] && opts+=(--format docker --layers)

ctx=$(mktemp -d "${TMPDIR:-/tmp}/v2m-image-context.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
stage_context "$ctx"

# The same TARGETS for every service keeps the build stage one cached layer.
# A service that fails does not stop the others; the exit status reports it.
built=() failed=()
for s in "${build[@]}"; do
  echo "build.sh: building v2m-$s:$tag with $engine" >&2
  if "$engine" build "${opts[@]}" "${extra[@]}" \
    -f "$ctx/deploy/docker/Dockerfile" --target "$s" \
    --build-arg "TARGETS=${targets[*]}" \
    -t "v2m-$s:$tag" "$ctx"; then
    built+=("$s")
  else
    failed+=("$s")
  fi
done
[ -z "${V2M_BUILT_LIST:-}" ] || printf '%s\n' "${built[@]}" >"$V2M_BUILT_LIST"
echo "build.sh: built: ${built[*]:-none}${failed:+; FAILED: ${failed[*]}}" >&2
[ ${#failed[@]} -eq 0 ]
