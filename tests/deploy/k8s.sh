#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests in deploy/k8s (no cluster needed).
#
#   tests/deploy/k8s.sh schema   the validator rejects the broken fixtures and
#                                accepts the good one; every manifest file of
#                                every kustomization passes it on its own
#                                (patches without their required fields)
#   tests/deploy/k8s.sh render   kustomize renders the base and each overlay;
#                                the output passes the validator strictly plus
#                                v2m's policy; broken renders are rejected
#
# Exits 77 (skipped) when a tool is absent: node for both, kubectl >= 1.24 or
# kustomize >= 4.5 for render (says so on stderr).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
k8s=$root/deploy/k8s
mode=${1:-}
say() { printf 'k8s: %s\n' "$*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
fail=0
bad() { say "FAIL: $*"; fail=1; }

command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs it)"
# Every package of package.json, so that a tree installed before one was added
# gets it too.
npm_missing() {
  local p
  while IFS= read -r p; do
    [ -d "$here/node_modules/$p" ] || return 0
  done < <(node -p 'Object.keys(require(process.argv[1]).dependencies).join("\n")' "$here/package.json")
  return 1
}
if npm_missing; then
  # Both checks may start at once under ctest -j: one installs, the other waits.
  (
    flock 9
    npm_missing || exit 0
    say "installing the validator's packages (npm ci in tests/deploy)"
    cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2
  ) 9>"${TMPDIR:-/tmp}/v2m-deploy-npm.lock" ||
    skip "npm ci in tests/deploy failed; the validator's packages are missing"
fi
validate() { node "$here/validate.mjs" "$@"; }

schema() {
  local f expect out
  # The validator itself: each bad fixture fails with its expected message.
  for f in "$here"/fixtures/bad-*.yaml; do
    expect=$(sed -n 's/^# expect: //p' "$f")
    if out=$(validate "$f" 2>&1); then
      bad "validator accepted $(basename "$f")"
    elif [ -n "$expect" ] && [[ $out != *"$expect"* ]]; then
      bad "validator rejected $(basename "$f") for another reason: $out"
    else
      say "ok: rejects $(basename "$f"): ${out%%$'\n'*}"
    fi
  done
  validate "$here"/fixtures/good*.yaml >&2 || bad "validator rejected the good fixture"
  if validate --list "$here/fixtures/outside/kustomization.yaml" | grep -q '^outside '; then
    say "ok: finds the file outside fixtures/outside"
  else
    bad "a file outside fixtures/outside went unnoticed"
  fi

  # Every kustomization's own files, each on its own; none outside its folder
  # (kustomize's default load restrictor, which `kubectl apply -k` cannot turn
  # off, refuses them: another kustomization's folder is the way).
  local k kind path resources=() patches=()
  while IFS= read -r k; do
    while read -r kind path; do
      case $kind in
        resource) resources+=("$path") ;;
        patch) patches+=("$path") ;;
        outside) bad "${k#"$root"/} names $path, outside its folder (kubectl apply -k refuses it)" ;;
      esac
    done < <(validate --list "$k")
  done < <(find "$root/deploy" -name kustomization.yaml -not -path '*/node_modules/*' | sort)
  [ ${#resources[@]} -gt 0 ] || bad "no manifest files found under ${k8s#"$root"/}"
  validate "${resources[@]}" >&2 || bad "manifest files do not validate"
  [ ${#patches[@]} -eq 0 ] || validate --partial "${patches[@]}" >&2 || bad "patch files do not validate"
}

# kubectl's built-in kustomize, else a standalone kustomize; version >= 4.5
# (the `labels` field).
renderer=()
find_renderer() {
  local v
  if command -v kubectl >/dev/null; then
    v=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"kustomizeVersion": *"v\{0,1\}\([0-9.]*\).*/\1/p')
    if [ -n "$v" ] && printf '4.5\n%s\n' "$v" | sort -V -C; then
      renderer=(kubectl kustomize)
      say "renderer: kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1), kustomize v$v"
      return 0
    fi
    say "kubectl's kustomize (${v:-unknown}) is older than 4.5"
  fi
  if command -v kustomize >/dev/null; then
    v=$(kustomize version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1)
    if [ -n "$v" ] && printf '4.5\n%s\n' "$v" | sort -V -C; then
      renderer=(kustomize build)
      say "renderer: kustomize v$v"
      return 0
    fi
  fi
  return 1
}

render_one() { # dir: print the rendered YAML, with kustomize's default load
  # restrictor (what `kubectl apply -k` uses: no file outside the folder)
  "${renderer[@]}" "$1"
}

render_check() { # dir name label: render dir into $out/name.yaml (render's
  # $out) and validate it, with the policies and init.sql when it holds one
  local extra=()
  if ! render_one "$1" >"$out/$2.yaml"; then
    bad "kustomize cannot render $3"
    return
  fi
  say "rendered $3: $(grep -c '^kind:' "$out/$2.yaml") objects"
  grep -q 'init.sql' "$out/$2.yaml" && extra=(--init-sql "$root/deploy/sql/init.sql")
  validate --policy "${extra[@]}" "$out/$2.yaml" >&2 || bad "$3 does not validate"
}

render() {
  find_renderer || skip "no kustomize renderer: install kubectl >= 1.24 (or kustomize >= 4.5); the manifests were NOT rendered (tests/deploy/k8s.sh schema still checks each file)"
  local dirs=("$k8s/base") d out name
  for d in "$k8s"/overlays/*/; do [ -f "$d/kustomization.yaml" ] && dirs+=("${d%/}"); done
  out=$(mktemp -d)
  trap 'rm -rf "$out"' RETURN
  # The renderer enforces the load restrictor, as `kubectl apply -k` does.
  local err
  if err=$(render_one "$here/fixtures/outside" 2>&1 >/dev/null); then
    bad "the renderer accepted a file outside the kustomization (fixtures/outside): the load restrictor is off"
  elif [[ $err != *"is not in or below"* ]]; then
    bad "the renderer refused fixtures/outside for another reason: $err"
  else
    say "ok: the renderer refuses fixtures/outside (load restrictor on)"
  fi
  for d in "${dirs[@]}"; do
    name=${d#"$k8s"/}
    name=${name//\//-}
    render_check "$d" "$name" "${d#"$root"/}"
  done
  [ -f "$out/overlays-incluster.yaml" ] && ! grep -q 'init.sql' "$out/overlays-incluster.yaml" &&
    bad "the incluster overlay does not carry init.sql"
  # Each optional component (KEDA, cert-manager, ...) on top of each overlay
  # that does not use it yet, as a user's own overlay would add it.
  local comp rel
  for d in "${dirs[@]}"; do
    [ "$d" = "$k8s/base" ] && continue
    for comp in "$k8s"/components/*/; do
      comp=${comp%/}
      [ -f "$comp/kustomization.yaml" ] || continue
      grep -qE "^[[:space:]]*-[[:space:]]*[./]*components/${comp##*/}[[:space:]]*$" "$d/kustomization.yaml" && continue
      name="${d##*/}+${comp##*/}"
      mkdir -p "$out/$name"
      rel=$(realpath --relative-to="$out/$name" "$k8s")
      printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n' \
        "$rel/${d#"$k8s"/}" "$rel/components/${comp##*/}" >"$out/$name/kustomization.yaml"
      render_check "$out/$name" "$name" "${d#"$root"/} with components/${comp##*/}"
    done
  done
  [ -f "$out/incluster+keda.yaml" ] && ! grep -q '^kind: ScaledObject' "$out/incluster+keda.yaml" &&
    bad "components/keda adds no ScaledObject"
  [ -f "$out/incluster+keda.yaml" ] && grep -q '^kind: HorizontalPodAutoscaler' "$out/incluster+keda.yaml" &&
    bad "components/keda leaves the HPA in place"
  # The policy catches what the schema cannot.
  local base=$out/base.yaml
  [ -f "$base" ] || return 0
  local -a cases=(
    's/replicas: 4/replicas: 1/|the original runs 4'
    's#path: /readyz#path: /ready#|readiness must GET /readyz'
    's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/|readOnlyRootFilesystem must be true'
    's/proxy-body-size: "0"/proxy-body-size: 10m/|proxy-body-size must be "0"'
    's/MYSQL_PASSWORD: Auth123/MYSQL_PASS: Auth123/|variable MYSQL_PASSWORD is not set'
    's/V2M_LISTEN: 0.0.0.0:8080/V2M_LISTEN: 0.0.0.0:9999/|does not listen on 8080'
  )
  local c expr expect res
  for c in "${cases[@]}"; do
    expr=${c%%|*} expect=${c#*|}
    sed "$expr" "$base" >"$out/mutant.yaml"
    cmp -s "$base" "$out/mutant.yaml" && { bad "mutation '$expr' changed nothing"; continue; }
    if res=$(validate --policy "$out/mutant.yaml" 2>&1); then
      bad "policy accepted a render with '$expr'"
    elif [[ $res != *"$expect"* ]]; then
      bad "policy rejected '$expr' for another reason: $res"
    else
      say "ok: policy rejects '$expr'"
    fi
  done

  # Structural mutations, by a JavaScript function over each document of a
  # rendering: it changes the document and returns true, returns "delete" to
  # drop it, or returns a new document to add.
  local -a jscases=(
    'base|d => d.kind === "Ingress" && d.metadata.name === "gateway-ingress" && delete d.spec.tls|no tls entry with a secretName'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "default-deny" && "delete"|no default-deny NetworkPolicy'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "allow-dns" && "delete"|may not ask DNS'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "auth" && (d.spec.ingress[0].from[0].podSelector.matchLabels.app = "converter")|auth:5000 must be reached only by gateway, not converter'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "rabbitmq" && d.spec.ingress[0].from[0].podSelector.matchExpressions[0].values.push("auth")|rabbitmq:5672 must be reached only by gateway, converter, notification, not auth'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "rabbitmq" && d.spec.ingress[0].from.push({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } })|rabbitmq:5672 is reachable from namespace ingress-nginx, but no Ingress publishes it'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "converter" && (d.spec.ingress = [{}])|converter:8081 is open to everyone'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "gateway" && d.spec.egress.splice(1, 1)|gateway -> rabbitmq:5672 (V2M_QUEUE): no egress rule of gateway allows it'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "gateway" && (d.spec.ingress = [])|the Ingress controller'"'"'s namespace cannot reach gateway:8080'
    'base|d => d.kind === "NetworkPolicy" && d.metadata.name === "auth" && (d.spec.egress = [])|auth -> host.minikube.internal:3306 (MYSQL_HOST): no egress rule allows it'
    'base|d => d.kind === "PodDisruptionBudget" && d.metadata.name === "notification" && "delete"|4 replicas and no PodDisruptionBudget'
    'base|d => d.kind === "Deployment" && d.metadata.name === "notification" && d.spec.template.spec.containers[0].volumeMounts.push({ name: "tmp", mountPath: "/var/lib/v2m/var" })|keep mail in a per-pod emptyDir outbox'
    'overlays-incluster|d => d.kind === "NetworkPolicy" && d.metadata.name === "mysql" && d.spec.ingress[0].from[0].podSelector.matchExpressions[0].values.push("gateway")|mysql:3306 must be reached only by auth, notification, not gateway'
    'overlays-incluster|d => d.kind === "NetworkPolicy" && d.metadata.name === "mongodb" && d.spec.ingress[0].from[0].podSelector.matchExpressions[0].values.pop()|notification -> mongodb:27017 (V2M_STORE): no ingress rule of mongodb allows it'
    'overlays-minikube|d => d.kind === "NetworkPolicy" && d.metadata.name === "notification-to-maildev" && "delete"|notification -> maildev:1025 (SMTP_URL): no egress rule of notification allows it'
    'incluster+keda|d => d.kind === "ScaledObject" && (d.spec.triggers[0].metadata.queueName = "mp3")|is not the target'"'"'s VIDEO_QUEUE video'
    'incluster+keda|d => d.kind === "ScaledObject" && { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", metadata: { name: "converter" }, spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "converter" }, minReplicas: 4, maxReplicas: 12 } }|both an HPA and a ScaledObject'
    'incluster+keda|d => d.kind === "TriggerAuthentication" && (d.spec.secretTargetRef[0].key = "AMQP_URL")|Secret v2m-secret key AMQP_URL does not exist'
  )
  local js src
  for c in "${jscases[@]}"; do
    src=${c%%|*} c=${c#*|}
    js=${c%|*} expect=${c##*|}
    [ -f "$out/$src.yaml" ] || { bad "no rendering $src for the mutation '$js'"; continue; }
    if ! mutate "$out/$src.yaml" "$js" >"$out/mutant.yaml"; then
      bad "mutation '$js' changed nothing in $src"
      continue
    fi
    if res=$(validate --policy "$out/mutant.yaml" 2>&1); then
      bad "policy accepted $src with '$js'"
    elif [[ $res != *"$expect"* ]]; then
      bad "policy rejected $src with '$js' for another reason: $res"
    else
      say "ok: policy rejects $src with '$js'"
    fi
  done
}

mutate() { # file js: print the mutated documents; fails when nothing changed
  (cd "$here" && node --input-type=module -e '
    import fs from "node:fs";
    import yaml from "js-yaml";
    const docs = yaml.loadAll(fs.readFileSync(process.argv[1], "utf8")).filter((d) => d);
    const f = eval(process.argv[2]);
    const out = [];
    let hit = 0;
    for (const d of docs) {
      const r = f(d);
      if (r === "delete") { hit++; continue; }
      out.push(d);
      if (r && typeof r === "object" && r.kind) { out.push(r); hit++; }
      else if (r !== false && r !== undefined && r !== null && r !== "") hit++;
    }
    if (!hit) process.exit(3);
    process.stdout.write(out.map((d) => yaml.dump(d, { noRefs: true })).join("---\n"));
  ' "$1" "$2")
}

case $mode in
  schema) schema ;;
  render) render ;;
  *) echo "usage: k8s.sh schema|render" >&2; exit 2 ;;
esac
[ $fail = 0 ] || { say "FAILED"; exit 1; }
say "PASS ($mode)"
