#!/usr/bin/env node
// Offline schema validation of rendered Kubernetes manifests.
//
//   kubectl kustomize deploy/k8s | node tools/k8s-validate/validate.js
//   node tools/k8s-validate/validate.js rendered.yaml [more.yaml ...]
//
// Every document of the multi-document YAML is checked three ways, without a cluster:
//   1. schema: the kubernetes-models class for its apiVersion/kind, and that class's validate()
//      (JSON schema of the Kubernetes OpenAPI spec: types, required fields, enums, formats);
//   2. unknown fields: the Kubernetes schemas do not forbid extra properties, so a misspelt field
//      (`readinesProbe:`) would pass (1) and be dropped silently by the API server. Every field is
//      looked up in the kubernetes-models type declarations, which list each object's properties;
//   3. references inside the rendered set: ConfigMaps/Secrets named by envFrom, env and volumes
//      exist, every $(VAR) in a command/args/env value names a variable of the container, volume
//      mounts name volumes, a Service selects some pod template, a StatefulSet's serviceName is a
//      headless Service, named probe/Service target ports are declared by the container.
// Exits 1 and names the object (kind/name, document number) and the field on any error; prints
// one OK line per object otherwise. --no-strict skips (2); --no-refs skips (3).
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

function usage(code) {
  process.stderr.write(
    "usage: validate.js [--no-strict] [--no-refs] [--quiet] [FILE ...]   (no FILE or '-': stdin)\n");
  process.exit(code);
}

const opts = { strict: true, refs: true, quiet: false, files: [] };
for (const arg of process.argv.slice(2)) {
  if (arg === "--no-strict") opts.strict = false;
  else if (arg === "--no-refs") opts.refs = false;
  else if (arg === "--quiet" || arg === "-q") opts.quiet = true;
  else if (arg === "--help" || arg === "-h") usage(0);
  else if (arg.startsWith("--")) { process.stderr.write(`validate.js: unknown option ${arg}\n`); usage(2); }
  else opts.files.push(arg);
}
if (opts.files.length === 0) opts.files.push("-");

// ---------------------------------------------------------------------------------------------
// Model lookup: apiVersion "apps/v1" + kind "StatefulSet" -> kubernetes-models/apps/v1/StatefulSet.

const modelsRoot = path.dirname(require.resolve("kubernetes-models/package.json"));

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" ||
      !/^[a-z0-9.\-]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) {
    return null;
  }
  const rel = `${apiVersion}/${kind}`;
  if (!fs.existsSync(path.join(modelsRoot, `${rel}.js`))) return null;
  const mod = require(`kubernetes-models/${rel}`);
  return { Model: mod[kind], dts: path.join(modelsRoot, `${rel}.d.ts`), iface: `I${kind}` };
}

// ---------------------------------------------------------------------------------------------
// Type declarations index for the unknown-field check. Each .d.ts file declares an interface
//   export interface IProbe { "exec"?: IIoK8sApiCoreV1ExecAction; ... }
// and exports it under its global name (export { IProbe as IIoK8sApiCoreV1Probe, ... }).

let typeIndex = null; // global or file-local name -> { props: Map(name -> type), open: bool }

function parseDts(file, index) {
  const text = fs.readFileSync(file, "utf8");
  const lines = text.split("\n");
  const local = new Map();
  for (let i = 0; i < lines.length; i++) {
    const m = /^export interface (\w+)(?: extends [^{]+)? \{\s*$/.exec(lines[i]);
    if (!m) continue;
    const props = new Map();
    let open = false;
    for (i++; i < lines.length && lines[i] !== "}"; i++) {
      const p = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]);
      if (p) {
        let type = p[2].replace(/;\s*$/, "");
        if (type === "{") { // inline map type: { [key: string]: T; }
          let value = "unknown";
          for (i++; i < lines.length && !/^ {4}\};?\s*$/.test(lines[i]); i++) {
            const k = /^\s*\[key: string\]: (.*);\s*$/.exec(lines[i]);
            if (k) value = k[1];
          }
          type = { map: value };
        }
        props.set(p[1], type);
      } else if (/^ {4}\[key: string\]/.test(lines[i])) {
        open = true;
      }
    }
    local.set(m[1], { props, open: open || props.size === 0 });
  }
  for (const [name, def] of local) index.set(`${file}::${name}`, def);
  const exportRe = /^export \{([^}]*)\};?\s*$/gm;
  let e;
  while ((e = exportRe.exec(text)) !== null) {
    for (const part of e[1].split(",")) {
      const a = /^\s*(\w+) as (\w+)\s*$/.exec(part);
      if (a && local.has(a[1])) index.set(a[2], local.get(a[1]));
    }
  }
}

function walkDts(dir, index) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) { if (ent.name !== "node_modules") walkDts(p, index); }
    else if (ent.name.endsWith(".d.ts")) parseDts(p, index);
  }
}

function buildTypeIndex() {
  const index = new Map();
  walkDts(modelsRoot, index);
  const machinery = path.dirname(require.resolve("@kubernetes-models/apimachinery/package.json",
                                                 { paths: [modelsRoot] }));
  walkDts(machinery, index);
  return index;
}

function checkFields(value, type, where, file, errors) {
  if (value === null || value === undefined) return;
  if (typeof type === "object" && type.map !== undefined) {
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) checkFields(v, type.map, `${where}/${k}`, file, errors);
    }
    return;
  }
  if (typeof type !== "string") return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(v, arr[1], `${where}/${i}`, file, errors));
    return;
  }
  if (!/^\w+$/.test(type)) return; // literals, unions, indexed access types: leaves
  const def = typeIndex.get(`${file}::${type}`) || typeIndex.get(type);
  if (!def || def.open) return; // type aliases (IntOrString, Quantity, ...) and free-form objects
  if (typeof value !== "object" || Array.isArray(value)) return; // wrong shape: schema check reports it
  for (const [k, v] of Object.entries(value)) {
    if (!def.props.has(k)) {
      const known = [...def.props.keys()];
      const near = known.filter((n) => n.toLowerCase() === k.toLowerCase() || editDistance(n, k) <= 2);
      errors.push(`${where || "/"}: unknown field "${k}"` + (near.length ? ` (did you mean "${near[0]}"?)` : ""));
    } else {
      checkFields(v, def.props.get(k), `${where}/${k}`, null, errors);
    }
  }
}

function editDistance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

// ---------------------------------------------------------------------------------------------
// References between the rendered objects.

function podTemplateOf(obj) {
  switch (obj.kind) {
    case "Pod": return { metadata: obj.metadata, spec: obj.spec, at: "" };
    case "Deployment": case "StatefulSet": case "DaemonSet": case "ReplicaSet": case "Job":
      return obj.spec && obj.spec.template ? { ...obj.spec.template, at: "/spec/template" } : null;
    case "CronJob":
      return obj.spec && obj.spec.jobTemplate && obj.spec.jobTemplate.spec && obj.spec.jobTemplate.spec.template
        ? { ...obj.spec.jobTemplate.spec.template, at: "/spec/jobTemplate/spec/template" } : null;
    default: return null;
  }
}

// The $(NAME) references Kubernetes would expand in a command, args or env value ("$$" escapes).
function variableReferences(text) {
  const names = [];
  for (let i = 0; i < text.length - 1; i++) {
    if (text[i] !== "$") continue;
    if (text[i + 1] === "$") { i++; continue; }
    if (text[i + 1] === "(") {
      const close = text.indexOf(")", i + 2);
      if (close < 0) break;
      const name = text.slice(i + 2, close);
      if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) names.push(name);
      i = close;
    }
  }
  return names;
}

function checkReferences(objects, errorsFor) {
  const ns = (o) => (o.metadata && o.metadata.namespace) || "default";
  const byKind = (kind) => objects.filter((o) => o.doc.kind === kind).map((o) => o.doc);
  const has = (kind, name, namespace) =>
    byKind(kind).some((o) => o.metadata && o.metadata.name === name && ns(o) === namespace);
  const templates = objects.map((o) => ({ o, t: podTemplateOf(o.doc) })).filter((x) => x.t);

  for (const { o, t } of templates) {
    const namespace = ns(o.doc);
    const spec = t.spec || {};
    const errs = errorsFor(o);
    const need = (kind, name, where, optional) => {
      if (name && !optional && !has(kind, name, namespace)) errs.push(`${where}: ${kind} "${name}" is not among the rendered objects`);
    };
    (spec.volumes || []).forEach((v, i) => {
      if (v.configMap) need("ConfigMap", v.configMap.name, `${t.at}/spec/volumes/${i}`, v.configMap.optional);
      if (v.secret) need("Secret", v.secret.secretName, `${t.at}/spec/volumes/${i}`, v.secret.optional);
      if (v.persistentVolumeClaim) need("PersistentVolumeClaim", v.persistentVolumeClaim.claimName, `${t.at}/spec/volumes/${i}`, false);
    });
    const claimTemplates = o.doc.kind === "StatefulSet" ? (o.doc.spec.volumeClaimTemplates || []).map((c) => c.metadata && c.metadata.name) : [];
    const volumeNames = new Set([...(spec.volumes || []).map((v) => v.name), ...claimTemplates]);
    for (const group of ["initContainers", "containers"]) {
      (spec[group] || []).forEach((c, ci) => {
        const at = `${t.at}/spec/${group}/${ci}`;
        (c.envFrom || []).forEach((e, i) => {
          if (e.configMapRef) need("ConfigMap", e.configMapRef.name, `${at}/envFrom/${i}`, e.configMapRef.optional);
          if (e.secretRef) need("Secret", e.secretRef.name, `${at}/envFrom/${i}`, e.secretRef.optional);
        });
        (c.env || []).forEach((e, i) => {
          const from = e.valueFrom || {};
          if (from.configMapKeyRef) need("ConfigMap", from.configMapKeyRef.name, `${at}/env/${i}`, from.configMapKeyRef.optional);
          if (from.secretKeyRef) need("Secret", from.secretKeyRef.name, `${at}/env/${i}`, from.secretKeyRef.optional);
        });
        (c.volumeMounts || []).forEach((m, i) => {
          if (!volumeNames.has(m.name)) errs.push(`${at}/volumeMounts/${i}: volume "${m.name}" is not defined`);
        });
        // $(NAME) in command, args and env values must name a variable the container has, or
        // Kubernetes passes the text "$(NAME)" through unchanged.
        const defined = new Set((c.env || []).map((e) => e.name));
        (c.envFrom || []).forEach((e) => {
          const ref = e.configMapRef || e.secretRef;
          const src = ref && byKind(e.configMapRef ? "ConfigMap" : "Secret")
            .find((m) => m.metadata && m.metadata.name === ref.name && ns(m) === namespace);
          Object.keys((src && (src.data || src.stringData)) || {}).forEach((k) => defined.add((e.prefix || "") + k));
        });
        if (o.doc.kind === "Job" && o.doc.spec && o.doc.spec.completionMode === "Indexed") defined.add("JOB_COMPLETION_INDEX");
        const texts = [
          ...(c.command || []).map((v, i) => [`${at}/command/${i}`, v]),
          ...(c.args || []).map((v, i) => [`${at}/args/${i}`, v]),
          ...(c.env || []).filter((e) => typeof e.value === "string").map((e, i) => [`${at}/env/${i}/value`, e.value]),
        ];
        for (const [where, text] of texts) {
          for (const name of variableReferences(String(text))) {
            if (!defined.has(name)) errs.push(`${where}: $(${name}) names no variable of the container (it would stay literal)`);
          }
        }
        const portNames = new Set((c.ports || []).map((p) => p.name).filter(Boolean));
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
          const p = c[probe];
          if (!p) continue;
          for (const action of ["httpGet", "tcpSocket"]) {
            const port = p[action] && p[action].port;
            if (typeof port === "string" && !portNames.has(port)) {
              errs.push(`${at}/${probe}/${action}/port: container declares no port named "${port}"`);
            }
          }
        }
      });
    }
  }

  const matches = (selector, labels) =>
    Object.entries(selector).every(([k, v]) => labels && labels[k] === v);

  for (const o of objects) {
    const d = o.doc;
    const errs = errorsFor(o);
    if (d.kind === "Service" && d.spec && d.spec.selector && Object.keys(d.spec.selector).length > 0) {
      const selected = templates.filter(({ o: w, t }) => ns(w.doc) === ns(d) && matches(d.spec.selector, t.metadata && t.metadata.labels));
      if (selected.length === 0) {
        errs.push(`/spec/selector: selects no pod template among the rendered objects`);
      }
      (d.spec.ports || []).forEach((p, i) => {
        if (typeof p.targetPort !== "string") return;
        const declares = selected.some(({ t }) => ["containers", "initContainers"].some((g) =>
          ((t.spec || {})[g] || []).some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort))));
        if (selected.length > 0 && !declares) {
          errs.push(`/spec/ports/${i}/targetPort: no selected container declares a port named "${p.targetPort}"`);
        }
      });
    }
    if (d.kind === "StatefulSet" && d.spec && d.spec.serviceName) {
      const svc = byKind("Service").find((s) => s.metadata && s.metadata.name === d.spec.serviceName && ns(s) === ns(d));
      if (!svc) errs.push(`/spec/serviceName: Service "${d.spec.serviceName}" is not among the rendered objects`);
      else if (!svc.spec || svc.spec.clusterIP !== "None") errs.push(`/spec/serviceName: Service "${d.spec.serviceName}" is not headless (clusterIP: None)`);
    }
    const podLabels = podTemplateOf(d);
    if (podLabels && d.spec && d.spec.selector && d.spec.selector.matchLabels &&
        !matches(d.spec.selector.matchLabels, podLabels.metadata && podLabels.metadata.labels)) {
      errs.push(`/spec/selector/matchLabels: does not match the pod template's labels`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

function readInput(file) {
  return file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
}

function main() {
  const objects = [];
  let failed = false;
  for (const file of opts.files) {
    const source = file === "-" ? "<stdin>" : file;
    let text;
    try { text = readInput(file); } catch (err) {
      process.stderr.write(`ERROR ${source}: cannot read: ${err.message}\n`);
      failed = true;
      continue;
    }
    YAML.parseAllDocuments(text).forEach((doc, i) => {
      const where = `${source} document ${i + 1}`;
      if (doc.errors.length > 0) {
        for (const e of doc.errors) process.stderr.write(`ERROR ${where}: YAML: ${e.message}\n`);
        failed = true;
        return;
      }
      const value = doc.toJS();
      if (value === null || value === undefined) return; // empty document (e.g. trailing ---)
      objects.push({ doc: value, where, errors: [] });
    });
  }
  if (objects.length === 0 && !failed) {
    process.stderr.write("ERROR: no Kubernetes objects in the input\n");
    process.exit(1);
  }

  for (const o of objects) {
    const d = o.doc;
    if (typeof d !== "object" || Array.isArray(d)) { o.errors.push("document is not a mapping"); continue; }
    const model = modelFor(d.apiVersion, d.kind);
    if (!model) {
      o.errors.push(`no schema for apiVersion "${d.apiVersion}" kind "${d.kind}" in kubernetes-models`);
      continue;
    }
    if (!d.metadata || typeof d.metadata.name !== "string" || d.metadata.name === "") {
      o.errors.push("/metadata/name: missing");
    }
    try {
      new model.Model(d).validate();
    } catch (err) {
      if (Array.isArray(err.errors)) {
        for (const e of err.errors) o.errors.push(`${e.instancePath || "/"}: ${e.message}` + (e.params && e.params.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : ""));
      } else {
        o.errors.push(String(err && err.message ? err.message : err));
      }
    }
    if (opts.strict) {
      if (!typeIndex) typeIndex = buildTypeIndex();
      checkFields(d, model.iface, "", model.dts, o.errors);
    }
  }

  if (opts.refs) checkReferences(objects, (o) => o.errors);

  const seen = new Map();
  for (const o of objects) {
    const d = o.doc;
    const key = `${d.apiVersion}/${d.kind}/${(d.metadata && d.metadata.namespace) || ""}/${(d.metadata && d.metadata.name) || ""}`;
    if (seen.has(key)) o.errors.push(`duplicate object (also ${seen.get(key)})`);
    else seen.set(key, o.where);
  }

  for (const o of objects) {
    const d = o.doc || {};
    const name = `${d.kind || "?"}/${(d.metadata && d.metadata.name) || "?"}` +
      (d.metadata && d.metadata.namespace ? ` (namespace ${d.metadata.namespace})` : "");
    if (o.errors.length > 0) {
      failed = true;
      for (const e of o.errors) process.stderr.write(`ERROR ${name} [${d.apiVersion}, ${o.where}]: ${e}\n`);
    } else if (!opts.quiet) {
      process.stdout.write(`OK    ${name} [${d.apiVersion}]\n`);
    }
  }
  const bad = objects.filter((o) => o.errors.length > 0).length;
  process.stdout.write(`k8s-validate: ${objects.length} objects, ${bad} invalid\n`);
  process.exit(failed ? 1 : 0);
}

main();
