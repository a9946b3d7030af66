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
  // The converter scales with an autoscaling/v2 HPA.
  const hpa = by("HorizontalPodAutoscaler").find((d) => d.obj.spec?.scaleTargetRef?.name === "converter");
  if (!hpa) problem("policy", "no HorizontalPodAutoscaler for the converter");
  else if (hpa.obj.apiVersion !== "autoscaling/v2") problem(hpa.where, "policy: HPA must be autoscaling/v2");
  for (const d of by("HorizontalPodAutoscaler")) {
    const t = d.obj.spec?.scaleTargetRef ?? {};
    if (!named(t.kind, t.name)) problem(d.where, `policy: scale target ${t.kind} ${t.name} does not exist`);
  }
  if (initSql) {
    const cm = by("ConfigMap").find((d) => d.obj.data?.["init.sql"] !== undefined);
    if (!cm) problem("policy", "no ConfigMap holds init.sql");
    else if (cm.obj.data["init.sql"] !== fs.readFileSync(initSql, "utf8"))
      problem(cm.where, `policy: init.sql differs from ${initSql}`);
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
