#!/usr/bin/env bash
# Fast checks of the image files, without building anything:
#   - the shell scripts parse;
#   - every package the Dockerfiles install exists in Debian 12 (apt-cache);
#   - the build stage installs every build dependency scripts/deps.sh lists,
#     and the runtime stages the shared library behind each -dev package;
#   - build.sh stages a context holding every file the Dockerfile copies.
# The image build itself is tests/deploy/images.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
docker=$root/deploy/docker
say() { printf 'docker-static: %s\n' "$*" >&2; }
fail=0
bad() { say "FAIL: $*"; fail=1; }

# ---- scripts parse
for f in "$here"/*.sh "$docker/build.sh"; do
  bash -n "$f" || bad "$f does not parse"
done
for f in "$docker/v2m-healthcheck" "$docker/mariadb/entrypoint.sh"; do
  sh -n "$f" || bad "$f does not parse"
  [ -x "$f" ] || bad "$f is not executable"
done
if command -v shellcheck >/dev/null; then
  shellcheck -S warning "$here"/*.sh "$docker/build.sh" "$docker/v2m-healthcheck" \
    "$docker/mariadb/entrypoint.sh" >&2 || bad "shellcheck"
fi

# ---- packages
# Packages of one stage: the words after `apt-get install ...` up to `&&`.
stage_pkgs() { # dockerfile stage-name ('' = the whole file)
  awk -v stage="$2" '
    /^FROM / { cur = ($NF == stage || stage == "") ; next }
    cur && /apt-get install/ { grab = 1 }
    cur && grab {
      line = $0; sub(/.*--no-install-recommends/, "", line)
      stop = (line ~ /&&/); sub(/&&.*/, "", line); gsub(/\\/, "", line)
      n = split(line, w, /[ \t]+/)
      for (i = 1; i <= n; i++) if (w[i] ~ /^[a-z0-9][a-z0-9.+-]+$/) print w[i]
      if (stop) grab = 0
    }' "$1"
}
build_pkgs=$(stage_pkgs "$docker/Dockerfile" build)
runtime_pkgs=$( (stage_pkgs "$docker/Dockerfile" runtime; stage_pkgs "$docker/Dockerfile" converter) | sort -u)
[ -n "$build_pkgs" ] && [ -n "$runtime_pkgs" ] || bad "could not read the package lists of deploy/docker/Dockerfile"

# scripts/deps.sh's build_pkgs=( ... ) must all be in the build stage.
deps_build=$(sed -n '/^build_pkgs=(/,/)/p' "$root/scripts/deps.sh" | tr -d '()' | sed 's/build_pkgs=//' | tr -s ' \t' '\n' | grep -E '^[a-z0-9]' || true)
[ -n "$deps_build" ] || bad "could not read build_pkgs of scripts/deps.sh"
for p in $deps_build; do
  grep -qx "$p" <<<"$build_pkgs" || bad "scripts/deps.sh builds with $p, the image build stage does not install it"
done
say "build stage installs all $(wc -w <<<"$deps_build") build packages of scripts/deps.sh"

. /etc/os-release 2>/dev/null || true
if [ "${VERSION_CODENAME:-}" = bookworm ] && command -v apt-cache >/dev/null &&
  apt-cache show --no-all-versions libc6 >/dev/null 2>&1; then
  all=$( (echo "$build_pkgs"; echo "$runtime_pkgs"
    for f in "$docker"/*/Dockerfile; do stage_pkgs "$f" ""; done) | sort -u)
  # One apt-cache run for all (each run loads the whole package cache).
  # shellcheck disable=SC2086
  if ! apt-cache show --no-all-versions $all >/dev/null 2>&1; then
    for p in $all; do
      apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || bad "package $p does not exist in Debian 12"
    done
  fi
  say "all $(wc -w <<<"$all") packages exist in Debian 12"
  # Each -dev library of the build stage needs its shared library at run time.
  # shellcheck disable=SC2046
  while read -r p lib; do
    grep -qx "$lib" <<<"$runtime_pkgs" || bad "$p links against $lib, which no runtime stage installs"
  done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances $(grep -- '-dev$' <<<"$build_pkgs") 2>/dev/null |
    awk '/^[^ ]/ { pkg = $1 } / Depends: [a-z]/ && $2 !~ /-dev$/ && $2 != "libc6" { print pkg, $2 }')
  say "runtime stages carry the shared library of every -dev package"
else
  say "SKIP package existence: not Debian 12 with apt lists here"
fi

# ---- build context
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
"$docker/build.sh" --context "$ctx/c" >/dev/null
while read -r src; do
  [ -e "$ctx/c/$src" ] || bad "Dockerfile copies $src, which build.sh does not stage"
done < <(awk '/^COPY / && !/--from=/ { for (i = 2; i < NF; i++) print $i }' "$docker/Dockerfile")
[ -f "$ctx/c/src/CMakeLists.txt" ] || bad "staged context lacks src/CMakeLists.txt"
[ -z "$(find "$ctx/c" -name node_modules -o -name 'build*' -type d -prune | head -n1)" ] ||
  bad "staged context holds build or node_modules directories"
say "build context: $(du -sh "$ctx/c" | cut -f1)"

[ $fail = 0 ] || { say "FAILED"; exit 1; }
say "PASS"
