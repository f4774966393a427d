#!/usr/bin/env node
// Runs the container command of every pod of a rendered Indexed Job locally, the way the kubelet
// would start it, with the real program replaced by a stub that prints its argument vector.
//
//   kubectl kustomize deploy/k8s | node tools/k8s-validate/run-indexed-job.js --job=ef21-worker
//
// For each completion index i: the environment is the container's envFrom ConfigMaps and literal
// env values plus JOB_COMPLETION_INDEX=i; command and args get Kubernetes' $(VAR) expansion
// ($$ -> $, $(NAME) -> value, unknown references left as they are); the result is executed with
// /bin/sh on PATH and every program named by --stub (default: ef21) replaced by a script that prints
//   index=<i> argv: <program> <arg> <arg> ...
// Exits non-zero if a pod's command fails. tests/e2e/deploy_test.sh checks the client slices.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");
const YAML = require("yaml");

const opts = { job: null, container: null, stubs: [] };
for (const arg of process.argv.slice(2)) {
  const m = /^--(job|container|stub)=(.+)$/.exec(arg);
  if (!m) {
    process.stderr.write("usage: run-indexed-job.js --job=NAME [--container=NAME] [--stub=PROGRAM ...] < rendered.yaml\n");
    process.exit(2);
  }
  if (m[1] === "stub") opts.stubs.push(m[2]); else opts[m[1]] = m[2];
}
if (!opts.job) { process.stderr.write("run-indexed-job.js: --job=NAME is required\n"); process.exit(2); }
if (opts.stubs.length === 0) opts.stubs.push("ef21");

// Kubernetes' expansion of $(VAR) in command, args and env values
// (k8s.io/kubernetes third_party/forked/golang/expansion).
function expand(input, env) {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== "$" || i + 1 >= input.length) { out += input[i]; continue; }
    const next = input[i + 1];
    if (next === "$") { out += "$"; i++; continue; }
    if (next === "(") {
      const close = input.indexOf(")", i + 2);
      if (close < 0) { out += "$("; i++; continue; }
      const name = input.slice(i + 2, close);
      out += Object.prototype.hasOwnProperty.call(env, name) ? env[name] : `$(${name})`;
      i = close;
      continue;
    }
    out += "$" + next;
    i++;
  }
  return out;
}

const docs = YAML.parseAllDocuments(fs.readFileSync(0, "utf8")).map((d) => d.toJS()).filter(Boolean);
const job = docs.find((d) => d.kind === "Job" && d.metadata && d.metadata.name === opts.job);
if (!job) { process.stderr.write(`run-indexed-job.js: no Job named ${opts.job}\n`); process.exit(1); }
if (job.spec.completionMode !== "Indexed") {
  process.stderr.write(`run-indexed-job.js: Job ${opts.job} is not an Indexed Job\n`);
  process.exit(1);
}
const containers = job.spec.template.spec.containers || [];
const container = opts.container ? containers.find((c) => c.name === opts.container) : containers[0];
if (!container) { process.stderr.write("run-indexed-job.js: container not found\n"); process.exit(1); }

const baseEnv = {};
for (const e of container.envFrom || []) {
  if (!e.configMapRef) continue;
  const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === e.configMapRef.name);
  if (!cm) { process.stderr.write(`run-indexed-job.js: ConfigMap ${e.configMapRef.name} not rendered\n`); process.exit(1); }
  for (const [k, v] of Object.entries(cm.data || {})) baseEnv[(e.prefix || "") + k] = String(v);
}

const stubDir = fs.mkdtempSync(path.join(os.tmpdir(), "ef21-job-stub-"));
for (const prog of opts.stubs) {
  const stub = path.join(stubDir, prog);
  fs.writeFileSync(stub, `#!/bin/sh\nprintf 'index=%s argv: %s' "$JOB_COMPLETION_INDEX" "${prog}"\nfor a in "$@"; do printf ' %s' "$a"; done\nprintf '\\n'\n`);
  fs.chmodSync(stub, 0o755);
}

let failed = false;
const completions = job.spec.completions || 1;
try {
  for (let i = 0; i < completions; i++) {
    const env = { ...baseEnv, JOB_COMPLETION_INDEX: String(i) };
    for (const e of container.env || []) {
      if (typeof e.value === "string") env[e.name] = expand(e.value, env);
    }
    const argv = [...(container.command || []), ...(container.args || [])].map((s) => expand(String(s), env));
    if (argv.length === 0) { process.stderr.write("run-indexed-job.js: container has no command\n"); process.exit(1); }
    const r = spawnSync(argv[0], argv.slice(1), {
      env: { ...env, PATH: `${stubDir}:/usr/bin:/bin`, HOME: stubDir },
      encoding: "utf8",
      timeout: 10000,
    });
    process.stdout.write(r.stdout || "");
    process.stderr.write(r.stderr || "");
    if (r.error || r.status !== 0) {
      process.stderr.write(`run-indexed-job.js: index ${i}: command failed (${r.error ? r.error.message : "exit " + r.status})\n`);
      failed = true;
    }
  }
} finally {
  fs.rmSync(stubDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
