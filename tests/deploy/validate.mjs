#!/usr/bin/env node
// Offline, strict validation of Kubernetes manifests, with no cluster:
//
//   node validate.mjs [--partial] [--policy] [--init-sql FILE] FILE|- ...
//   node validate.mjs --list KUSTOMIZATION.yaml
//
// Every YAML document must be a known apiVersion/kind and must pass
//   1. the Kubernetes OpenAPI schema (kubernetes-models: types, required
//      fields, enums, formats), and
//   2. an unknown-field check against the API's attribute maps (the models of
//      @kubernetes/client-node), which the schema alone does not reject --
//      the check `kubectl apply --validate=strict` does against a server.
// --partial   the files are kustomize patches: missing required fields are fine.
// --policy    the documents are one rendered deployment of v2m: also check
//             v2m's own rules (probes, resources, securityContext, replicas,
//             references between objects, the original's variable names).
// --init-sql  with --policy: the mysql-initdb ConfigMap must hold this file.
// Exit status 0 when everything passes, 1 otherwise (each problem on stderr).

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
// The generated models of @kubernetes/client-node, one file per type, loaded
// on demand (the package's main entry pulls in the whole API client and fails
// to load on some Node versions; its ObjectSerializer.js loads every model).
const MODELS = new URL("./node_modules/@kubernetes/client-node/dist/gen/models/", import.meta.url);
const modelCache = new Map();
async function model(type) {
  if (!/^[A-Za-z0-9]+$/.test(type)) return null;
  if (!modelCache.has(type)) {
    let cls = null;
    try {
      cls = (await import(new URL(`${type}.js`, MODELS).href))[type] ?? null;
    } catch {
      cls = null;
    }
    modelCache.set(type, cls);
  }
  return modelCache.get(type);
}

// `--list FILE`: print the local resource files ("resource PATH") and patch
// files ("patch PATH") a kustomization.yaml names, for checking a tree file by
// file when no kustomize renderer is installed; and "outside PATH" for every
// plain file it names outside its own folder, which kustomize's default load
// restrictor (the one `kubectl apply -k` uses) refuses. Another kustomization's
// folder may be anywhere.
if (process.argv[2] === "--list") {
  const k = process.argv[3];
  const dir = path.dirname(k);
  const doc = yaml.load(fs.readFileSync(k, "utf8")) ?? {};
  const remote = (p) => /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || /^(github\.com|gitlab\.com|bitbucket\.org)\//.test(p);
  const isDir = (p) => fs.existsSync(path.join(dir, p)) && fs.statSync(path.join(dir, p)).isDirectory();
  const local = (p) => typeof p === "string" && fs.existsSync(path.join(dir, p)) && fs.statSync(path.join(dir, p)).isFile();
  const real = (p) => (fs.existsSync(p) ? fs.realpathSync(p) : path.resolve(p)); // a symbolic link counts where it points
  const root = real(dir);
  const named = []; // every plain file the kustomization names
  const file = (p) => {
    if (typeof p !== "string" || p === "" || remote(p) || isDir(p)) return;
    named.push(p);
  };
  for (const r of [...(doc.resources ?? []), ...(doc.components ?? [])]) {
    if (local(r)) console.log(`resource ${path.join(dir, r)}`);
    else if (typeof r === "string" && fs.existsSync(path.join(dir, r, "kustomization.yaml"))) console.log(`kustomization ${path.join(dir, r, "kustomization.yaml")}`);
    file(r);
  }
  for (const p of [...(doc.patches ?? []), ...(doc.patchesStrategicMerge ?? []), ...(doc.patchesJson6902 ?? [])]) {
    const f = typeof p === "string" ? p : p?.path;
    if (local(f) && !(doc.patchesJson6902 ?? []).includes(p)) console.log(`patch ${path.join(dir, f)}`);
    file(f);
  }
  for (const g of [...(doc.configMapGenerator ?? []), ...(doc.secretGenerator ?? [])]) {
    for (const f of g?.files ?? []) file(String(f).includes("=") ? String(f).slice(String(f).indexOf("=") + 1) : f);
    for (const f of [...(g?.envs ?? []), ...(g?.env ? [g.env] : [])]) file(f);
  }
  for (const f of [...(doc.crds ?? []), ...(doc.configurations ?? []), ...(doc.generators ?? []), ...(doc.transformers ?? []), ...(doc.validators ?? [])])
    file(f);
  for (const f of named) {
    const abs = real(path.join(dir, f));
    if (abs !== root && !abs.startsWith(root + path.sep)) console.log(`outside ${f}`);
  }
  process.exit(0);
}

const args = process.argv.slice(2);
let partial = false, policy = false, initSql = null;
const files = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--partial") partial = true;
  else if (a === "--policy") policy = true;
  else if (a === "--init-sql") initSql = args[++i];
  else if (a === "-h" || a === "--help") {
    console.log("usage: node validate.mjs [--partial] [--policy] [--init-sql FILE] FILE|- ...");
    process.exit(0);
  } else files.push(a);
}
if (files.length === 0) {
  console.error("validate: no input files");
  process.exit(2);
}

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// ------------------------------------------------------------ loading
const docs = []; // {where, obj}
for (const f of files) {
  const text = f === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(f, "utf8");
  let parsed;
  try {
    parsed = yaml.loadAll(text); // duplicate keys are an error too
  } catch (e) {
    problem(f, `YAML: ${e.message.split("\n")[0]}`);
    continue;
  }
  parsed.forEach((obj, i) => {
    if (obj === null || obj === undefined) return;
    const name = obj?.metadata?.name ?? "?";
    docs.push({ where: `${f}#${i + 1} ${obj?.kind ?? "?"}/${name}`, obj });
  });
}

// ------------------------------------------------------------ schema
// Custom resources v2m uses, by API group: the package of their models
// (generated from the projects' CRDs like kubernetes-models from the API).
const CRD_PACKAGES = { "keda.sh": "@kubernetes-models/keda" };
const crdPackage = (apiVersion) => (apiVersion.includes("/") ? CRD_PACKAGES[apiVersion.split("/")[0]] : undefined);

async function modelClass(apiVersion, kind) {
  if (!/^[A-Za-z0-9.\/-]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  try {
    const mod = await import(`${crdPackage(apiVersion) ?? "kubernetes-models"}/${apiVersion}/${kind}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

async function schemaCheck(where, obj) {
  if (typeof obj !== "object" || Array.isArray(obj)) {
    problem(where, "not a mapping");
    return false;
  }
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    problem(where, "apiVersion and kind are required");
    return false;
  }
  const Cls = await modelClass(obj.apiVersion, obj.kind);
  if (!Cls) {
    problem(where, `unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
    return false;
  }
  try {
    new Cls(obj).validate();
  } catch (e) {
    let errs = e.errors ?? [{ instancePath: "", message: e.message }];
    if (partial) errs = errs.filter((x) => x.keyword !== "required");
    // oneOf/anyOf failures repeat the branch errors: report the branches.
    const seen = new Set();
    for (const x of errs) {
      if (partial && (x.keyword === "oneOf" || x.keyword === "anyOf")) continue;
      const line = `${x.instancePath || "/"} ${x.message}${
        x.params?.allowedValues ? ` (${x.params.allowedValues.join(", ")})` : ""
      }`;
      if (!seen.has(line)) {
        seen.add(line);
        problem(where, `schema: ${line}`);
      }
    }
  }
  return true;
}

// ------------------------------------------------------------ unknown fields
const PRIMITIVES = new Set(["string", "number", "boolean", "Date", "any", "object", "IntOrString"]);

function className(apiVersion, kind) {
  const version = apiVersion.split("/").pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

async function walk(where, p, value, type) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(value)) for (const [i, v] of value.entries()) await walk(where, `${p}[${i}]`, v, m[1]);
    return; // a wrong type is the schema check's business
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value === "object" && !Array.isArray(value))
      for (const [k, v] of Object.entries(value)) await walk(where, `${p}.${k}`, v, m[1]);
    return;
  }
  if (PRIMITIVES.has(type)) return;
  const Cls = await model(type);
  if (!Cls || typeof Cls.getAttributeTypeMap !== "function") {
    problem(where, `internal: no model for type ${type} at ${p || "/"}`);
    return;
  }
  if (typeof value !== "object" || Array.isArray(value)) return;
  const attrs = new Map(Cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    // A patch's strategic-merge directives ($patch: delete, $retainKeys, ...).
    if (partial && k.startsWith("$")) continue;
    if (!attrs.has(k)) {
      problem(where, `unknown field "${p ? p + "." : ""}${k}" (not in ${type})`);
      continue;
    }
    await walk(where, p ? `${p}.${k}` : k, v, attrs.get(k));
  }
}

// Unknown fields of custom resources. Their models carry no attribute maps
// and their compiled schemas allow any field, so read the fields from the
// models' TypeScript declarations: interface I<Kind> { "field"?: TYPE; ... },
// the types imported from sibling files, API types (ObjectMeta, an HPA's
// behavior, ...) handed over to the client-node walk above.
const dtsCache = new Map();
function dtsFile(file) {
  if (!dtsCache.has(file)) {
    const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const imports = new Map(); // local interface name -> {file} or {model}
    for (const m of text.matchAll(/import \{([^}]*)\} from "([^"]+)"/g)) {
      for (const name of m[1].split(",").map((x) => x.trim()).filter(Boolean)) {
        const from = m[2];
        let api;
        if (from.startsWith("./")) imports.set(name, { file: path.join(path.dirname(file), from.replace(/\.js$/, ".d.ts")) });
        else if ((api = /^@kubernetes-models\/apimachinery\/apis\/meta\/(v\d\w*)\/(\w+)$/.exec(from)))
          imports.set(name, { model: api[2] === "Time" || api[2] === "MicroTime" ? "Date" : `V1${api[2]}` });
        else if ((api = /^kubernetes-models\/(?:[\w.]+\/)?(v\d\w*)\/(\w+)$/.exec(from)))
          imports.set(name, { model: api[1].charAt(0).toUpperCase() + api[1].slice(1) + api[2] });
      }
    }
    const body = /export interface \w+(?: extends [\w, ]+)? \{/.exec(text);
    dtsCache.set(file, { imports, fields: body ? dtsFields(text, body.index + body[0].length) : null });
  }
  return dtsCache.get(file);
}
// The fields of an object type whose body starts at text[i] (after "{"):
// Map field -> type text.
function dtsFields(text, i) {
  const fields = new Map();
  for (;;) {
    while (/\s|;|,/.test(text[i] ?? "")) i++;
    if (i >= text.length || text[i] === "}") return fields;
    const key = /^(?:"([^"]+)"|(\w+)|\[key: string\])\??:\s*/.exec(text.slice(i, i + 300));
    if (!key) return fields;
    i += key[0].length;
    let depth = 0, j = i;
    for (; j < text.length; j++) {
      const c = text[j];
      if ("{<([".includes(c)) depth++;
      else if ("}>)]".includes(c)) { if (depth === 0) break; depth--; }
      else if (c === ";" && depth === 0) break;
    }
    fields.set(key[1] ?? key[2] ?? "[key: string]", text.slice(i, j).trim());
    i = j;
  }
}
async function dtsWalk(where, p, value, type, ctx) {
  if (value === null || value === undefined) return;
  let m;
  type = type.trim();
  if ((m = /^Array<([\s\S]+)>$/.exec(type))) {
    if (Array.isArray(value)) for (const [i, v] of value.entries()) await dtsWalk(where, `${p}[${i}]`, v, m[1], ctx);
    return;
  }
  if (type.startsWith("{")) {
    if (typeof value !== "object" || Array.isArray(value)) return;
    const fields = dtsFields(type, 1);
    const map = fields.get("[key: string]");
    for (const [k, v] of Object.entries(value)) {
      const t = fields.get(k) ?? map;
      if (t === undefined) problem(where, `unknown field "${p ? p + "." : ""}${k}"`);
      else await dtsWalk(where, p ? `${p}.${k}` : k, v, t, ctx);
    }
    return;
  }
  const ref = ctx.imports.get(type);
  if (!ref) return; // string, number, boolean, literals, unions of them
  if (ref.model) return ref.model === "Date" ? undefined : walk(where, p, value, ref.model);
  const sub = dtsFile(ref.file);
  if (!sub.fields) return;
  if (typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const t = sub.fields.get(k) ?? sub.fields.get("[key: string]");
    if (t === undefined) problem(where, `unknown field "${p ? p + "." : ""}${k}" (not in ${path.basename(ref.file, ".d.ts")})`);
    else await dtsWalk(where, p ? `${p}.${k}` : k, v, t, sub);
  }
}

async function fieldCheck(where, obj) {
  const pkg = crdPackage(obj.apiVersion);
  if (pkg) {
    const file = fileURLToPath(new URL(`./node_modules/${pkg}/${obj.apiVersion}/${obj.kind}.d.ts`, import.meta.url));
    if (!fs.existsSync(file)) {
      problem(where, `no field model for ${obj.apiVersion} ${obj.kind}`);
      return;
    }
    // The top-level interface, through an import of its own file.
    await dtsWalk(where, "", obj, "Top", { imports: new Map([["Top", { file }]]) });
    return;
  }
  const type = className(obj.apiVersion, obj.kind);
  if (!(await model(type))) {
    problem(where, `no field model for ${obj.apiVersion} ${obj.kind}`);
    return;
  }
  await walk(where, "", obj, type);
}

// ------------------------------------------------------------ v2m policy
const SERVICES = {
  gateway: { replicas: 2, port: 8080, env: ["AUTH_SVC_ADDRESS", "V2M_STORE", "V2M_QUEUE", "VIDEO_QUEUE", "V2M_LISTEN", "V2M_LINK_SECRET"] },
  auth: { replicas: 2, port: 5000, env: ["MYSQL_HOST", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DB", "MYSQL_PORT", "JWT_SECRET", "V2M_LISTEN"] },
  converter: { replicas: 4, port: 8081, env: ["V2M_STORE", "V2M_QUEUE", "VIDEO_QUEUE", "MP3_QUEUE", "V2M_LISTEN"] },
  notification: { replicas: 4, port: 8082, env: ["V2M_QUEUE", "MP3_QUEUE", "GMAIL_ADDRESS", "GMAIL_PASSWORD", "V2M_LISTEN", "V2M_PUBLIC_URL", "V2M_LINK_SECRET"] },
};

// A label selector (matchLabels, matchExpressions) against labels; an empty
// selector selects everything, a missing one nothing.
function selects(sel, labels) {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In" && !(has && (e.values ?? []).includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && (e.values ?? []).includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function policyCheck(all) {
  const by = (kind) => all.filter((d) => d.obj.kind === kind);
  const named = (kind, name) => all.find((d) => d.obj.kind === kind && d.obj.metadata?.name === name);
  const keysOf = (kind, name) => {
    const d = named(kind, name)?.obj;
    return d ? Object.keys({ ...(d.data ?? {}), ...(d.stringData ?? {}) }) : null;
  };
  const valueOf = (refs, key) => {
    for (const r of refs) {
      const d = named(r.kind, r.name)?.obj;
      const v = d?.data?.[key] ?? d?.stringData?.[key];
      if (v !== undefined) return r.kind === "Secret" && d.data?.[key] !== undefined ? Buffer.from(v, "base64").toString() : v;
    }
    return undefined;
  };
  // A container's environment: envFrom ConfigMaps and Secrets, then env.
  const envOf = (c) => {
    const env = {};
    for (const e of c.envFrom ?? []) {
      const ref = e.configMapRef ? { kind: "ConfigMap", name: e.configMapRef.name } : { kind: "Secret", name: e.secretRef?.name };
      for (const k of keysOf(ref.kind, ref.name) ?? []) env[k] = valueOf([ref], k);
    }
    for (const e of c.env ?? []) {
      const s = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
      if (e.value !== undefined) env[e.name] = String(e.value);
      else if (s) env[e.name] = valueOf([{ kind: e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap", name: s.name }], s.key);
    }
    return env;
  };
  const seen = new Set();

  for (const d of [...by("Deployment"), ...by("StatefulSet")]) {
    const w = d.where, spec = d.obj.spec ?? {}, pod = spec.template?.spec ?? {};
    const name = d.obj.metadata?.name;
    const svc = SERVICES[name];
    const psc = pod.securityContext ?? {};
    if (psc.runAsNonRoot !== true) problem(w, "policy: pod securityContext.runAsNonRoot must be true");
    if (svc) {
      seen.add(name);
      if (d.obj.kind !== "Deployment") problem(w, "policy: v2m services are Deployments");
      if (spec.replicas !== svc.replicas) problem(w, `policy: replicas ${spec.replicas}, the original runs ${svc.replicas}`);
    }
    const labels = spec.template?.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(spec.selector?.matchLabels ?? {}))
      if (labels[k] !== v) problem(w, `policy: selector ${k}=${v} does not match the pod template`);
    for (const c of pod.containers ?? []) {
      const cw = `${w} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) problem(cw, "policy: allowPrivilegeEscalation must be false");
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) problem(cw, "policy: capabilities must drop ALL");
      for (const k of ["requests", "limits"])
        for (const r of ["cpu", "memory"])
          if (c.resources?.[k]?.[r] === undefined) problem(cw, `policy: resources.${k}.${r} missing`);
      if (!c.readinessProbe) problem(cw, "policy: readinessProbe missing");
      if (!c.livenessProbe) problem(cw, "policy: livenessProbe missing");
      if (c.imagePullPolicy !== "IfNotPresent") problem(cw, "policy: imagePullPolicy must be IfNotPresent");
      // References to ConfigMaps and Secrets must resolve within the deployment.
      const refs = [];
      for (const e of c.envFrom ?? []) {
        const ref = e.configMapRef ? { kind: "ConfigMap", name: e.configMapRef.name } : { kind: "Secret", name: e.secretRef?.name };
        refs.push(ref);
        if (!named(ref.kind, ref.name)) problem(cw, `policy: envFrom ${ref.kind} ${ref.name} does not exist`);
      }
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        const kind = e.valueFrom?.secretKeyRef ? "Secret" : "ConfigMap";
        if (s && !(keysOf(kind, s.name) ?? []).includes(s.key))
          problem(cw, `policy: env ${e.name} refers to missing ${kind} ${s.name} key ${s.key}`);
      }
      const portNames = new Set((c.ports ?? []).map((p) => p.name));
      for (const pr of [c.readinessProbe, c.livenessProbe]) {
        const port = pr?.httpGet?.port ?? pr?.tcpSocket?.port;
        if (typeof port === "string" && !portNames.has(port)) problem(cw, `policy: probe port ${port} is not a container port`);
      }
      if (svc) {
        if (sc.readOnlyRootFilesystem !== true) problem(cw, "policy: readOnlyRootFilesystem must be true");
        if (c.image !== `v2m-${name}` && !String(c.image).startsWith(`v2m-${name}:`))
          problem(cw, `policy: image ${c.image}, expected v2m-${name}:TAG`);
        if (c.readinessProbe?.httpGet?.path !== "/readyz") problem(cw, "policy: readiness must GET /readyz");
        if (c.livenessProbe?.httpGet?.path !== "/healthz") problem(cw, "policy: liveness must GET /healthz");
        if ((c.ports ?? [])[0]?.containerPort !== svc.port) problem(cw, `policy: container port must be ${svc.port}`);
        const names = new Set((c.env ?? []).map((e) => e.name));
        for (const r of refs) for (const k of keysOf(r.kind, r.name) ?? []) names.add(k);
        for (const k of svc.env) if (!names.has(k)) problem(cw, `policy: variable ${k} is not set`);
        const listen = valueOf(refs, "V2M_LISTEN");
        if (listen !== undefined && !String(listen).endsWith(`:${svc.port}`))
          problem(cw, `policy: V2M_LISTEN=${listen} does not listen on ${svc.port}`);
      }
    }
    for (const v of pod.volumes ?? []) {
      if (v.configMap && !named("ConfigMap", v.configMap.name)) problem(w, `policy: volume ConfigMap ${v.configMap.name} does not exist`);
      if (v.secret && !named("Secret", v.secret.secretName)) problem(w, `policy: volume Secret ${v.secret.secretName} does not exist`);
      if (v.persistentVolumeClaim && !named("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
        problem(w, `policy: volume PVC ${v.persistentVolumeClaim.claimName} does not exist`);
    }
  }
  for (const s of Object.keys(SERVICES)) if (!seen.has(s)) problem("policy", `no Deployment ${s}`);

  // Services select pods and name ports that exist.
  const pods = [...by("Deployment"), ...by("StatefulSet")].map((d) => d.obj.spec?.template);
  for (const d of by("Service")) {
    const sel = d.obj.spec?.selector ?? {};
    const match = pods.filter((t) => Object.entries(sel).every(([k, v]) => t?.metadata?.labels?.[k] === v));
    if (match.length === 0) { problem(d.where, "policy: selects no pods"); continue; }
    const ports = new Set(match.flatMap((t) => (t.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).flatMap((p) => [p.name, p.containerPort]))));
    for (const p of d.obj.spec?.ports ?? [])
      if (p.targetPort !== undefined && !ports.has(p.targetPort)) problem(d.where, `policy: targetPort ${p.targetPort} is not a port of its pods`);
  }
  for (const d of by("StatefulSet"))
    if (!named("Service", d.obj.spec?.serviceName)) problem(d.where, `policy: serviceName ${d.obj.spec?.serviceName} has no Service`);
  // Ingress: the gateway at mp3converter.com, any body size, backends exist.
  const gwIngress = by("Ingress").find((d) => (d.obj.spec?.rules ?? []).some((r) => r.host === "mp3converter.com"));
  if (!gwIngress) problem("policy", "no Ingress for host mp3converter.com");
  else if (gwIngress.obj.metadata?.annotations?.["nginx.ingress.kubernetes.io/proxy-body-size"] !== "0")
    problem(gwIngress.where, 'policy: nginx.ingress.kubernetes.io/proxy-body-size must be "0"');
  for (const d of by("Ingress"))
    for (const r of d.obj.spec?.rules ?? [])
      for (const p of r.http?.paths ?? []) {
        const b = p.backend?.service;
        const s = b && named("Service", b.name);
        if (!s) problem(d.where, `policy: backend Service ${b?.name} does not exist`);
        else if (!(s.obj.spec?.ports ?? []).some((sp) => sp.port === b.port?.number || sp.name === b.port?.name))
          problem(d.where, `policy: Service ${b.name} has no port ${b.port?.number ?? b.port?.name}`);
      }
  // The converter scales with an autoscaling/v2 HPA, or with a KEDA
  // ScaledObject on the video queue's depth; never both (they would fight).
  const hpa = by("HorizontalPodAutoscaler").find((d) => d.obj.spec?.scaleTargetRef?.name === "converter");
  const so = by("ScaledObject").find((d) => d.obj.spec?.scaleTargetRef?.name === "converter");
  if (!hpa && !so) problem("policy", "no HorizontalPodAutoscaler (or KEDA ScaledObject) for the converter");
  if (hpa && so) problem(so.where, "policy: the converter has both an HPA and a ScaledObject (KEDA makes its own HPA: delete the other)");
  if (hpa && hpa.obj.apiVersion !== "autoscaling/v2") problem(hpa.where, "policy: HPA must be autoscaling/v2");
  for (const d of by("HorizontalPodAutoscaler")) {
    const t = d.obj.spec?.scaleTargetRef ?? {};
    if (!named(t.kind, t.name)) problem(d.where, `policy: scale target ${t.kind} ${t.name} does not exist`);
  }
  for (const d of by("ScaledObject")) {
    const t = d.obj.spec?.scaleTargetRef ?? {};
    const target = named(t.kind ?? "Deployment", t.name);
    if (!target) { problem(d.where, `policy: scale target ${t.kind ?? "Deployment"} ${t.name} does not exist`); continue; }
    const env = envOf(target.obj.spec?.template?.spec?.containers?.[0] ?? {});
    const triggers = d.obj.spec?.triggers ?? [];
    const rq = triggers.find((x) => x.type === "rabbitmq");
    if (!rq) { problem(d.where, "policy: no rabbitmq trigger"); continue; }
    const m = rq.metadata ?? {};
    if (env.VIDEO_QUEUE !== undefined && m.queueName !== env.VIDEO_QUEUE)
      problem(d.where, `policy: trigger queueName ${m.queueName} is not the target's VIDEO_QUEUE ${env.VIDEO_QUEUE}`);
    if (m.mode !== "QueueLength" || !(Number(m.value) > 0)) problem(d.where, "policy: trigger must be mode QueueLength with a value > 0");
    if ((d.obj.spec?.minReplicaCount ?? 0) < (target.obj.spec?.replicas ?? 1))
      problem(d.where, `policy: minReplicaCount below the Deployment's ${target.obj.spec?.replicas} replicas`);
    const ta = rq.authenticationRef && named(rq.authenticationRef.kind ?? "TriggerAuthentication", rq.authenticationRef.name);
    if (!m.host && !m.hostFromEnv && !ta) problem(d.where, "policy: the rabbitmq trigger has no host and no TriggerAuthentication");
    for (const r of ta?.obj.spec?.secretTargetRef ?? [])
      if (!(keysOf("Secret", r.name) ?? []).includes(r.key)) problem(ta.where, `policy: Secret ${r.name} key ${r.key} does not exist`);
  }
  // Every workload of more than one replica has a PodDisruptionBudget; every
  // budget selects pods.
  const workloads = [...by("Deployment"), ...by("StatefulSet")];
  const pdbs = by("PodDisruptionBudget");
  for (const d of workloads) {
    if ((d.obj.spec?.replicas ?? 1) <= 1) continue;
    const labels = d.obj.spec?.template?.metadata?.labels ?? {};
    if (!pdbs.some((b) => selects(b.obj.spec?.selector, labels)))
      problem(d.where, `policy: ${d.obj.spec.replicas} replicas and no PodDisruptionBudget`);
  }
  for (const b of pdbs)
    if (!workloads.some((d) => selects(b.obj.spec?.selector, d.obj.spec?.template?.metadata?.labels ?? {})))
      problem(b.where, "policy: the budget selects no pods");
  // HTTPS for mp3converter.com, with a named certificate Secret.
  if (gwIngress && !(gwIngress.obj.spec?.tls ?? []).some((t) => t.secretName && (t.hosts ?? []).includes("mp3converter.com")))
    problem(gwIngress.where, "policy: no tls entry with a secretName for host mp3converter.com");
  // Mail: with several notification replicas, no outbox in a per-pod emptyDir
  // (each pod would keep its own mails, lost with the pod).
  for (const d of workloads.filter((w) => w.obj.metadata?.name === "notification")) {
    const pod = d.obj.spec?.template?.spec ?? {};
    const c = (pod.containers ?? [])[0] ?? {};
    const env = envOf(c);
    if ((d.obj.spec?.replicas ?? 1) <= 1) continue;
    const smtp = Boolean(env.SMTP_URL || env.GMAIL_ADDRESS);
    const outbox = path.posix.resolve(c.workingDir ?? "/var/lib/v2m", env.V2M_OUTBOX || "./var/outbox");
    const vol = (c.volumeMounts ?? []).find((m) => outbox === m.mountPath || outbox.startsWith(m.mountPath.replace(/\/$/, "") + "/"));
    const empty = vol && (pod.volumes ?? []).find((v) => v.name === vol.name)?.emptyDir !== undefined;
    if (empty && (!smtp || env.V2M_OUTBOX))
      problem(d.where, `policy: ${d.obj.spec.replicas} replicas keep mail in a per-pod emptyDir outbox (${outbox}); send it through SMTP`);
  }
  networkPolicyCheck(all, named, envOf);
  if (initSql) {
    const cm = by("ConfigMap").find((d) => d.obj.data?.["init.sql"] !== undefined);
    if (!cm) problem("policy", "no ConfigMap holds init.sql");
    else if (cm.obj.data["init.sql"] !== fs.readFileSync(initSql, "utf8"))
      problem(cm.where, `policy: init.sql differs from ${initSql}`);
  }
}

// Network policies: a default deny, DNS for everyone, each database and
// service reachable by exactly the pods that need it, the Ingress controller
// only where an Ingress sends it, and every connection a service's settings
// name (AUTH_SVC_ADDRESS, V2M_QUEUE, V2M_STORE, MYSQL_HOST, SMTP_URL) allowed
// at both ends.
// The settings naming each service's connections (auth has V2M_STORE from
// v2m-config too, but no store).
const USES = {
  gateway: ["AUTH_SVC_ADDRESS", "V2M_QUEUE", "V2M_STORE", "V2M_JOBS"],
  auth: ["MYSQL_HOST"],
  converter: ["V2M_QUEUE", "V2M_STORE", "V2M_JOBS"],
  notification: ["V2M_QUEUE", "V2M_STORE", "V2M_JOBS", "MYSQL_HOST", "SMTP_URL"],
};
const V2M_PODS = Object.keys(USES);
const ONLY_FROM = {
  auth: ["gateway"],
  mysql: ["auth", "notification"],
  rabbitmq: ["gateway", "converter", "notification"],
  mongodb: ["gateway", "converter", "notification"],
};
function networkPolicyCheck(all, named, envOf) {
  const by = (kind) => all.filter((d) => d.obj.kind === kind);
  const nps = by("NetworkPolicy").map((d) => d.obj);
  if (nps.length === 0) return problem("policy", "no NetworkPolicy");
  const pods = [...by("Deployment"), ...by("StatefulSet")].map((d) => ({
    name: d.obj.metadata?.name,
    labels: d.obj.spec?.template?.metadata?.labels ?? {},
    ports: (d.obj.spec?.template?.spec?.containers ?? []).flatMap((c) => c.ports ?? []),
    containers: d.obj.spec?.template?.spec?.containers ?? [],
  }));
  const types = (np) => np.spec?.policyTypes ?? (np.spec?.egress ? ["Ingress", "Egress"] : ["Ingress"]);
  const portMatch = (p, num, name) =>
    (p.protocol ?? "TCP") === "TCP" &&
    (p.port === undefined || p.port === num || p.port === name || (p.endPort && num >= p.port && num <= p.endPort));
  const anyNs = (sel) => sel && Object.keys(sel).length === 0;
  const openBlock = (b) => (b.cidr === "0.0.0.0/0" || b.cidr === "::/0") && !(b.except ?? []).length;

  if (!nps.some((np) => Object.keys(np.spec?.podSelector ?? { none: 1 }).length === 0 && types(np).includes("Ingress") &&
      types(np).includes("Egress") && !(np.spec?.ingress ?? []).length && !(np.spec?.egress ?? []).length))
    problem("policy", "no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)");

  // Who may connect to pod on its port (num, name): a list of peers.
  const ingressPeers = (pod, num, name) => {
    const pol = nps.filter((np) => types(np).includes("Ingress") && selects(np.spec?.podSelector, pod.labels));
    if (!pol.length) return [{ any: true }];
    const peers = [];
    for (const np of pol)
      for (const rule of np.spec?.ingress ?? []) {
        if ((rule.ports ?? []).length && !rule.ports.some((p) => portMatch(p, num, name))) continue;
        if (!(rule.from ?? []).length) { peers.push({ any: true, np }); continue; }
        for (const peer of rule.from) {
          if (peer.ipBlock) peers.push({ ipBlock: peer.ipBlock, np });
          else if (peer.namespaceSelector) peers.push({ ns: peer.namespaceSelector, podSel: peer.podSelector, np });
          else peers.push({ pods: pods.filter((q) => selects(peer.podSelector, q.labels)).map((q) => q.name), np });
        }
      }
    return peers;
  };
  const ingressAllows = (src, dst, num, name) =>
    ingressPeers(dst, num, name).some((pp) => pp.any || (pp.ipBlock && openBlock(pp.ipBlock)) ||
      (pp.pods ?? []).includes(src.name) || (anyNs(pp.ns) && (!pp.podSel || selects(pp.podSel, src.labels))));
  // May src open a connection to dst (a pod) or, dst null, to an address
  // outside the cluster, on port num?
  const egressAllows = (src, dst, num, name, proto = "TCP") => {
    const pol = nps.filter((np) => types(np).includes("Egress") && selects(np.spec?.podSelector, src.labels));
    if (!pol.length) return true;
    return pol.some((np) => (np.spec?.egress ?? []).some((rule) =>
      (!(rule.ports ?? []).length || rule.ports.some((p) => (p.protocol ?? "TCP") === proto && portMatch({ ...p, protocol: "TCP" }, num, name))) &&
      (!(rule.to ?? []).length || rule.to.some((peer) =>
        dst === null ? Boolean(peer.ipBlock)
          : peer.ipBlock ? openBlock(peer.ipBlock)
          : peer.namespaceSelector ? anyNs(peer.namespaceSelector) && (!peer.podSelector || selects(peer.podSelector, dst.labels))
          : selects(peer.podSelector, dst.labels)))));
  };

  // What the Ingresses publish: (pod, container port) pairs.
  const published = new Set();
  for (const ing of by("Ingress"))
    for (const r of ing.obj.spec?.rules ?? [])
      for (const pth of r.http?.paths ?? []) {
        const b = pth.backend?.service;
        const svc = b && named("Service", b.name)?.obj;
        const sp = (svc?.spec?.ports ?? []).find((x) => x.port === b.port?.number || x.name === b.port?.name);
        if (!sp) continue;
        for (const pod of pods.filter((q) => selects({ matchLabels: svc.spec?.selector ?? {} }, q.labels)))
          for (const cp of pod.ports)
            if (cp.containerPort === (sp.targetPort ?? sp.port) || cp.name === sp.targetPort) published.add(`${pod.name}:${cp.containerPort}`);
      }
  const hasKeda = by("ScaledObject").length > 0;
  for (const pod of pods) {
    for (const cp of pod.ports) {
      const w = `policy: ${pod.name}:${cp.containerPort}`;
      for (const pp of ingressPeers(pod, cp.containerPort, cp.name)) {
        if (pp.any) problem(`NetworkPolicy/${pp.np?.metadata?.name ?? "(none)"}`, `${w} is open to everyone`);
        else if (pp.ipBlock) problem(`NetworkPolicy/${pp.np.metadata?.name}`, `${w} is open to addresses ${pp.ipBlock.cidr}`);
        else if (pp.ns) {
          const nsName = pp.ns.matchLabels?.["kubernetes.io/metadata.name"];
          const keda = nsName === "keda" && hasKeda && pod.name === "rabbitmq" && cp.containerPort === 5672;
          if (!keda && !published.has(`${pod.name}:${cp.containerPort}`))
            problem(`NetworkPolicy/${pp.np.metadata?.name}`, `${w} is reachable from namespace ${nsName ?? JSON.stringify(pp.ns)}, but no Ingress publishes it`);
        } else {
          const only = ONLY_FROM[pod.name];
          const extra = only ? pp.pods.filter((n) => !only.includes(n)) : [];
          if (extra.length) problem(`NetworkPolicy/${pp.np.metadata?.name}`, `${w} must be reached only by ${only.join(", ")}, not ${extra.join(", ")}`);
        }
      }
    }
    // DNS, for every pod.
    if (!egressAllows(pod, null, 53, undefined, "UDP")) problem("policy", `${pod.name} may not ask DNS (UDP 53)`);
  }
  // The gateway is reachable from the Ingress controller.
  for (const pod of pods.filter((q) => q.name === "gateway"))
    if (!ingressPeers(pod, 8080, "http").some((pp) => pp.ns)) problem("policy", "the Ingress controller's namespace cannot reach gateway:8080");

  // The connections the services' settings name.
  const targets = (env) => {
    const out = [];
    const url = (k, dflt) => {
      const m = env[k] && /^[a-z]+:\/\/(?:[^@/]*@)?([^:/]+)(?::(\d+))?/.exec(env[k]);
      if (m) out.push({ key: k, host: m[1], port: Number(m[2] ?? dflt) });
    };
    if (env.AUTH_SVC_ADDRESS) { const [h, p] = env.AUTH_SVC_ADDRESS.split(":"); out.push({ key: "AUTH_SVC_ADDRESS", host: h, port: Number(p ?? 80) }); }
    url("V2M_QUEUE", 5672);
    url("V2M_STORE", 27017);
    url("V2M_JOBS", 27017);
    url("SMTP_URL", 587);
    if (env.MYSQL_HOST) out.push({ key: "MYSQL_HOST", host: env.MYSQL_HOST, port: Number(env.MYSQL_PORT ?? 3306) });
    return out.filter((t) => !/^(file|sqlite)$/.test(t.host));
  };
  for (const src of pods.filter((q) => V2M_PODS.includes(q.name))) {
    const env = envOf(src.containers[0] ?? {});
    for (const t of targets(env).filter((x) => USES[src.name].includes(x.key))) {
      const w = `policy: ${src.name} -> ${t.host}:${t.port} (${t.key})`;
      const svc = named("Service", t.host.split(".")[0])?.obj;
      if (!svc) {
        if (!egressAllows(src, null, t.port)) problem("NetworkPolicy", `${w}: no egress rule allows it`);
        continue;
      }
      const sp = (svc.spec?.ports ?? []).find((x) => x.port === t.port);
      if (!sp) { problem("policy", `${w}: Service ${svc.metadata.name} has no port ${t.port}`); continue; }
      const dsts = pods.filter((q) => selects({ matchLabels: svc.spec?.selector ?? {} }, q.labels));
      for (const dst of dsts) {
        const cp = dst.ports.find((x) => x.containerPort === (sp.targetPort ?? sp.port) || x.name === sp.targetPort);
        if (!cp) continue;
        if (!egressAllows(src, dst, cp.containerPort, cp.name)) problem("NetworkPolicy", `${w}: no egress rule of ${src.name} allows it`);
        if (!ingressAllows(src, dst, cp.containerPort, cp.name)) problem("NetworkPolicy", `${w}: no ingress rule of ${dst.name} allows it`);
      }
    }
  }
}

// ------------------------------------------------------------ main
for (const d of docs) if (await schemaCheck(d.where, d.obj)) await fieldCheck(d.where, d.obj);
if (policy) policyCheck(docs);

if (problems.length) {
  for (const p of problems) console.error(`validate: ${p}`);
  console.error(`validate: FAIL: ${problems.length} problem(s) in ${docs.length} document(s)`);
  process.exit(1);
}
console.log(`validate: ok: ${docs.length} document(s)${partial ? " (patches)" : ""}${policy ? " + policy" : ""} in ${files.map((f) => path.basename(f)).join(" ")}`);
