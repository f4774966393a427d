#!/usr/bin/env bash
# Deployment files, checked by the real tools (no Docker daemon, cluster or Grafana needed):
#   - docker-compose.yml: `docker-compose config -q`, worker slices cover every client exactly once,
#     workers dial the aggregator, health checks use `ef21 health`, Prometheus targets = services;
#   - deploy/prometheus/*.yml: `promtool check config`;
#   - deploy/k8s: `kubectl kustomize` renders; every object validates offline against the
#     Kubernetes schemas (tools/k8s-validate, npm kubernetes-models), and a broken manifest is
#     refused; the Indexed Job's shell command, run as the kubelet would, gives slices covering
#     every client exactly once, one per completion index;
#   - deploy/grafana: provisioning parses, the dashboard is titled "ef21 federation", every panel
#     and query uses datasource uid ef21-prometheus, every metric it names is one ef21 exports,
#     and every PromQL expression is accepted by a real Prometheus (Debian's, on loopback);
#   - deploy/docker/Dockerfile: the structure the deployment relies on (a build with a daemon
#     only when one is reachable);
#   - when the ef21 binary is built: every flag the deploy files pass to a subcommand is listed
#     in that subcommand's --help.
# Usage: deploy_test.sh EF21_BINARY SOURCE_DIR      (ctest passes both)
set -uo pipefail

bin=${1:-}
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || { echo "FAIL: no source dir $src"; exit 1; }

py=/usr/bin/python3
[ -x "$py" ] || py=python3

source "$src/tools/lib/e2e.sh"
e2e_workdir

need() {
  local missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  if [ ${#missing[@]} -gt 0 ]; then
    fail "missing tools: ${missing[*]} (scripts/bootstrap.sh installs them)"
    return 1
  fi
}

need docker-compose promtool kubectl node prometheus || true

# Node packages for the validator (scripts/bootstrap.sh runs `npm ci`; do it here if it did not).
kv=tools/k8s-validate
if [ ! -d "$kv/node_modules/kubernetes-models" ] && command -v npm >/dev/null 2>&1; then
  echo "note: installing $kv dependencies (npm ci)"
  (cd "$kv" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || true
fi
have_node_deps=0
if [ -d "$kv/node_modules/kubernetes-models" ] && [ -d "$kv/node_modules/yaml" ]; then
  have_node_deps=1
else
  fail "$kv/node_modules missing: run scripts/bootstrap.sh (npm ci in $kv)"
fi
# A YAML reader for the cross-checks below (the validator's own `yaml` package).
yaml_js="$src/$kv/node_modules/yaml"

############################################ docker-compose
if out=$(docker-compose -f docker-compose.yml config -q 2>&1); then
  pass "docker-compose -f docker-compose.yml config -q"
else
  fail "docker-compose -f docker-compose.yml config -q: $out"
fi

if [ "$have_node_deps" = 1 ] && docker-compose -f docker-compose.yml config > "$work/compose.yaml" 2>"$work/compose.err"; then
  if out=$(YAML_JS="$yaml_js" node - "$work/compose.yaml" deploy/prometheus/prometheus.yml <<'EOF' 2>&1
const fs = require("fs");
const YAML = require(process.env.YAML_JS);
const compose = YAML.parse(fs.readFileSync(process.argv[2], "utf8"));
const prom = YAML.parse(fs.readFileSync(process.argv[3], "utf8"));
const problems = [];
const flag = (cmd, name) => {
  const a = (cmd || []).find((x) => String(x).startsWith(`--${name}=`));
  return a === undefined ? undefined : String(a).slice(name.length + 3);
};
const services = compose.services || {};
const ef21 = Object.entries(services).filter(([, s]) => s.image && s.image.startsWith("ef21"));
const aggs = ef21.filter(([, s]) => (s.command || [])[0] === "aggregator");
const workers = ef21.filter(([, s]) => (s.command || [])[0] === "worker");
if (aggs.length !== 1) problems.push(`want exactly one aggregator service, found ${aggs.length}`);
if (workers.length < 2) problems.push(`want several worker services, found ${workers.length}`);
const [aggName, agg] = aggs[0] || [];
const clients = Number(flag(agg && agg.command, "clients"));
if (!Number.isInteger(clients) || clients <= 0) problems.push("aggregator has no --clients=N");
const listen = flag(agg && agg.command, "listen") || "";
const grpcPort = listen.split(":").pop();
const seen = new Array(clients > 0 ? clients : 0).fill(0);
for (const [name, s] of workers) {
  const ids = flag(s.command, "client-ids");
  const m = /^(\d+)-(\d+)$/.exec(ids || "");
  if (!m) { problems.push(`${name}: --client-ids=A-B missing`); continue; }
  for (let i = Number(m[1]); i <= Number(m[2]); i++) {
    if (i >= clients) { problems.push(`${name}: client ${i} >= --clients=${clients}`); break; }
    seen[i]++;
  }
  if (flag(s.command, "aggregator") !== `${aggName}:${grpcPort}`) {
    problems.push(`${name}: --aggregator=${flag(s.command, "aggregator")}, want ${aggName}:${grpcPort}`);
  }
  const dep = (s.depends_on || {})[aggName];
  if (!dep || dep.condition !== "service_healthy") problems.push(`${name}: does not wait for ${aggName} to be healthy`);
  for (const f of ["problem", "features", "split"]) {
    if (flag(s.command, f) !== flag(agg.command, f)) problems.push(`${name}: --${f} differs from the aggregator's`);
  }
  if (!flag(s.command, "data")) problems.push(`${name}: no --data (the data is the workers')`);
}
seen.forEach((n, i) => { if (n !== 1) problems.push(`client ${i} is served by ${n} workers`); });
// Data stays with the workers (issue 11 item 5): the aggregator reads none.
if (flag(agg && agg.command, "data")) problems.push(`${aggName} has --data: the aggregator needs no client's data`);
if (!flag(agg && agg.command, "features")) problems.push(`${aggName}: no --features (without --data it states the dimension)`);
const hc = ((agg && agg.healthcheck) || {}).test || [];
if (!(hc.includes("ef21") && hc.includes("health"))) problems.push(`${aggName}: healthcheck does not run ef21 health`);
// Prometheus static targets = the compose services and their metrics ports.
const targets = (job) => ((prom.scrape_configs || []).find((j) => j.job_name === job) || { static_configs: [] })
  .static_configs.flatMap((c) => c.targets || []).sort();
const want = (list) => list.map(([name, s]) => `${name}:${(flag(s.command, "metrics-listen") || "").split(":").pop()}`).sort();
if (JSON.stringify(targets("ef21-aggregator")) !== JSON.stringify(want(aggs))) problems.push(`prometheus.yml ef21-aggregator targets ${targets("ef21-aggregator")} != ${want(aggs)}`);
if (JSON.stringify(targets("ef21-worker")) !== JSON.stringify(want(workers))) problems.push(`prometheus.yml ef21-worker targets ${targets("ef21-worker")} != ${want(workers)}`);
for (const name of ["prometheus", "grafana"]) if (!services[name]) problems.push(`no ${name} service`);
if (problems.length) { console.log(problems.join("\n")); process.exit(1); }
console.log(`${workers.length} workers cover clients 0-${clients - 1} once each`);
EOF
  ); then
    pass "docker-compose federation is consistent: $out"
  else
    fail "docker-compose federation: $out"
  fi
fi

############################################ Prometheus configuration
for f in deploy/prometheus/*.yml; do
  if out=$(promtool check config "$f" 2>&1); then
    pass "promtool check config $f"
  else
    fail "promtool check config $f: $out"
  fi
done

############################################ Kubernetes
if kubectl kustomize deploy/k8s > "$work/k8s.yaml" 2>"$work/kustomize.err"; then
  pass "kubectl kustomize deploy/k8s renders ($(grep -c '^kind:' "$work/k8s.yaml") objects)"
else
  fail "kubectl kustomize deploy/k8s: $(cat "$work/kustomize.err")"
fi

if [ "$have_node_deps" = 1 ] && [ -s "$work/k8s.yaml" ]; then
  if out=$(node "$kv/validate.js" < "$work/k8s.yaml" 2>&1); then
    pass "rendered manifests validate against the Kubernetes schemas: $(echo "$out" | tail -n1)"
  else
    fail "rendered manifests do not validate:
$out"
  fi

  # The validator must refuse a broken manifest and name the object: a misspelt field and a
  # wrong type in the aggregator StatefulSet.
  sed -e 's/^\(  *\)readinessProbe:/\1readinesProbe:/' -e 's/^\(  *\)replicas: 1$/\1replicas: one/' \
    "$work/k8s.yaml" > "$work/k8s-broken.yaml"
  if out=$(node "$kv/validate.js" < "$work/k8s-broken.yaml" 2>&1); then
    fail "k8s-validate accepted a broken manifest (readinesProbe, replicas: one)"
  elif grep -q 'StatefulSet/ef21-aggregator.*unknown field "readinesProbe"' <<<"$out" &&
       grep -q 'StatefulSet/ef21-aggregator.*/spec/replicas: must be integer' <<<"$out"; then
    pass "k8s-validate refuses a broken manifest and names the object and fields"
  else
    fail "k8s-validate failed on a broken manifest without naming it:
$out"
  fi

  # The Indexed Job's command, run for each completion index as the kubelet would.
  if out=$(node "$kv/run-indexed-job.js" --job=ef21-worker < "$work/k8s.yaml" 2>&1); then
    echo "$out" | sed 's/^/    /'
    if res=$(YAML_JS="$yaml_js" node - "$work/k8s.yaml" <<'EOF' 3<<<"$out" 2>&1
const fs = require("fs");
const YAML = require(process.env.YAML_JS);
const docs = YAML.parseAllDocuments(fs.readFileSync(process.argv[2], "utf8")).map((d) => d.toJS()).filter(Boolean);
const lines = fs.readFileSync(3, "utf8").split("\n").filter((l) => l.includes(" argv: "));
const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name.startsWith("ef21-run-config"));
const job = docs.find((d) => d.kind === "Job" && d.metadata.name === "ef21-worker");
const sts = docs.find((d) => d.kind === "StatefulSet" && d.metadata.name === "ef21-aggregator");
const problems = [];
const n = Number(cm.data.EF21_CLIENTS), w = Number(cm.data.EF21_WORKERS);
if (job.spec.completions !== w || job.spec.parallelism !== w) {
  problems.push(`Job completions=${job.spec.completions} parallelism=${job.spec.parallelism}, EF21_WORKERS=${w}`);
}
if (lines.length !== job.spec.completions) problems.push(`${lines.length} worker commands for ${job.spec.completions} indices`);
const seen = new Array(n).fill(0);
for (const l of lines) {
  const m = / --client-ids=(\d+)-(\d+)/.exec(l);
  if (!m || !/ argv: ef21 worker /.test(l)) { problems.push(`not an ef21 worker command: ${l}`); continue; }
  for (let i = Number(m[1]); i <= Number(m[2]); i++) i < n ? seen[i]++ : problems.push(`client ${i} >= ${n}`);
  if (!l.includes(" --aggregator=ef21-aggregator:50051")) problems.push(`worker does not dial ef21-aggregator:50051: ${l}`);
}
seen.forEach((c, i) => { if (c !== 1) problems.push(`client ${i} served ${c} times`); });
const args = sts.spec.template.spec.containers[0].args;
if (!args.includes(`--clients=$(EF21_CLIENTS)`)) problems.push("aggregator does not take --clients from the ConfigMap");
if (args.some((a) => a.startsWith("--data"))) problems.push("aggregator has --data: the aggregator needs no client's data");
for (const l of lines) if (!l.includes(" --data=")) problems.push(`worker without --data: ${l}`);
const c = sts.spec.template.spec.containers[0];
for (const p of ["readinessProbe", "livenessProbe"]) if (!c[p] || !c[p].grpc || c[p].grpc.port !== 50051) problems.push(`aggregator ${p} is not a gRPC probe on 50051`);
if (!(sts.spec.volumeClaimTemplates || []).length) problems.push("aggregator has no volumeClaimTemplate");
if (problems.length) { console.log(problems.join("\n")); process.exit(1); }
console.log(`${lines.length} indices cover clients 0-${n - 1} once each`);
EOF
    ); then
      pass "Indexed Job worker slices: $res"
    else
      fail "Indexed Job worker slices: $res"
    fi
  else
    fail "running the Indexed Job's worker command: $out"
  fi
fi

############################################ Grafana
dash=deploy/grafana/dashboards/ef21-federation.json
for f in deploy/grafana/provisioning/datasources/*.yml deploy/grafana/provisioning/dashboards/*.yml; do
  if [ "$have_node_deps" = 1 ]; then
    if out=$(YAML_JS="$yaml_js" node -e 'const Y=require(process.env.YAML_JS); const d=Y.parse(require("fs").readFileSync(process.argv[1],"utf8")); if (d.apiVersion !== 1) throw new Error("apiVersion is not 1")' "$f" 2>&1); then
      pass "Grafana provisioning file parses: $f"
    else
      fail "Grafana provisioning file $f: $out"
    fi
  fi
done
if grep -q 'uid: ef21-prometheus' deploy/grafana/provisioning/datasources/*.yml; then
  pass "Grafana datasource provisioned with uid ef21-prometheus"
else
  fail "no Grafana datasource with uid ef21-prometheus in deploy/grafana/provisioning/datasources"
fi

if out=$("$py" tools/check_dashboard.py "$dash" --offline 2>&1); then
  pass "dashboard parses; every panel and query uses datasource uid ef21-prometheus: $(echo "$out" | tail -n1)"
else
  fail "dashboard static checks:
$out"
fi
if title=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["title"])' "$dash" 2>&1) && [ "$title" = "ef21 federation" ]; then
  pass "dashboard title is \"ef21 federation\""
else
  fail "dashboard title is \"$title\", want \"ef21 federation\""
fi

# Every metric the dashboard names is one ef21 exports (the contract in docs/DEPLOY.md).
known="ef21_build_info ef21_rounds_completed_total ef21_round ef21_clients ef21_diagnostics_every ef21_connected_workers
ef21_uplink_bytes_total ef21_uplink_diagnostic_bytes_total ef21_downlink_bytes_total ef21_downlink_messages_total
ef21_client_uplink_bytes_total ef21_paper_bytes_total ef21_paper_bytes_per_client
ef21_uplink_bytes_per_client ef21_downlink_bytes_per_client ef21_g_norm ef21_grad_norm ef21_loss
ef21_train_accuracy ef21_test_loss ef21_test_accuracy
ef21_stepsize ef21_round_duration_seconds ef21_waiting_for_workers_seconds_total ef21_rejected_messages_total ef21_duplicate_updates_total
ef21_worker_compute_seconds ef21_worker_bytes_sent_total ef21_worker_bytes_received_total
ef21_worker_reconnects_total ef21_worker_rounds_total ef21_worker_clients"
unknown=""
for m in $(grep -o 'ef21_[a-z0-9_]*' "$dash" | sort -u); do
  base=$(echo "$m" | sed -E 's/_(bucket|sum|count)$//')
  if ! tr ' ' '\n' <<<"$known" | grep -qx "$m" && ! tr ' ' '\n' <<<"$known" | grep -qx "$base"; then
    unknown="$unknown $m"
  fi
done
if [ -z "$unknown" ]; then
  pass "every metric in the dashboard is an ef21 metric"
else
  fail "dashboard names metrics ef21 does not export:$unknown"
fi

# Every PromQL expression parses and evaluates on a real Prometheus (no targets: syntax and types).
if command -v prometheus >/dev/null 2>&1; then
  port=$(free_port)
  printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' > "$work/prometheus.yml"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn > "$work/prometheus.log" 2>&1 &
  prom_pid=$!
  prometheus_ready() { http_get "http://127.0.0.1:$port/-/ready" > /dev/null; }
  if poll 10 prometheus_ready; then
    if out=$("$py" tools/check_dashboard.py "$dash" --prometheus="http://127.0.0.1:$port" 2>&1); then
      pass "Prometheus accepts every dashboard expression: $(echo "$out" | tail -n1)"
    else
      fail "Prometheus rejects dashboard expressions:
$out"
    fi
    # The checker must catch a broken expression.
    sed 's/"ef21_loss"/"rate(ef21_loss[$__rate_interval]"/' "$dash" > "$work/broken-dashboard.json"
    if "$py" tools/check_dashboard.py "$work/broken-dashboard.json" --prometheus="http://127.0.0.1:$port" > "$work/broken.out" 2>&1; then
      fail "check_dashboard.py accepted a dashboard with an unbalanced expression"
    elif grep -q "FAIL panel .*Loss" "$work/broken.out"; then
      pass "check_dashboard.py refuses a broken expression and names the panel"
    else
      fail "check_dashboard.py failed on a broken dashboard without naming the panel: $(cat "$work/broken.out")"
    fi
  else
    fail "Prometheus did not become ready on 127.0.0.1:$port: $(cat "$work/prometheus.log")"
  fi
  kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null
fi

############################################ Dockerfile
df=deploy/docker/Dockerfile
problems=""
grep -Eq '^FROM debian:(\$\{DEBIAN_RELEASE\}|bookworm)[^ ]* AS build' "$df" || problems="$problems; no debian bookworm build stage"
grep -q '^ARG DEBIAN_RELEASE=bookworm' "$df" || problems="$problems; DEBIAN_RELEASE is not bookworm"
[ "$(grep -c '^FROM ' "$df")" -ge 2 ] || problems="$problems; not multi-stage"
grep -q -- '-DEF21_BUILD_TESTS=OFF' "$df" && grep -q -- '-DEF21_BUILD_BENCH=OFF' "$df" || problems="$problems; tests/bench not turned off"
grep -Eq '^USER [1-9][0-9]*' "$df" || problems="$problems; final stage does not run as a numeric non-root USER"
for p in 50051 9464 9465; do grep -Eq "^EXPOSE .*\b$p\b" "$df" || problems="$problems; port $p not exposed"; done
grep -q '^ENTRYPOINT \["ef21"\]' "$df" || problems="$problems; ENTRYPOINT is not [\"ef21\"]"
# Both executables built (with LibTorch's headers) and shipped: ef21 re-executes ef21-networks.
grep -q 'libtorch-dev' "$df" || problems="$problems; the build stage lacks libtorch-dev (ef21-networks)"
grep -Eq '^COPY --from=build .*/ef21 .*/ef21-networks ' "$df" || problems="$problems; ef21 and ef21-networks not both copied"
for f in breast-cancer_scale a1a; do [ -f "data/libsvm/$f" ] || problems="$problems; data/libsvm/$f missing"; done
last_from=$(grep -n '^FROM ' "$df" | tail -n1 | cut -d: -f1)
if tail -n +"$last_from" "$df" | grep -Eq -- '-dev\b|cmake|g\+\+'; then problems="$problems; build tools in the runtime stage"; fi
if [ -z "$problems" ]; then
  pass "Dockerfile: multi-stage bookworm, runtime libraries only, non-root, ports, entrypoint"
else
  fail "Dockerfile:${problems#;}"
fi
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && [ "${EF21_DOCKER_BUILD:-0}" = 1 ]; then
  if docker build -f "$df" -t ef21:deploy-test . ; then pass "docker build"; else fail "docker build"; fi
else
  skip "docker build (needs a Docker daemon and EF21_DOCKER_BUILD=1)"
fi

############################################ the flags the deploy files pass exist
if [ -n "$bin" ] && [ -x "$bin" ] && [ "$have_node_deps" = 1 ] && [ -s "$work/k8s.yaml" ]; then
  # subcommand -> flags used, from docker-compose and the rendered Kubernetes objects.
  YAML_JS="$yaml_js" node - "$work/compose.yaml" "$work/k8s.yaml" > "$work/flags.txt" <<'EOF'
const fs = require("fs");
const YAML = require(process.env.YAML_JS);
const used = {};
const add = (tokens) => {
  const i = tokens.indexOf("ef21");
  const args = i >= 0 ? tokens.slice(i + 1) : tokens;
  const sub = args[0];
  if (!["aggregator", "worker", "health", "run", "simulate"].includes(sub)) return;
  for (const a of args.slice(1)) {
    const m = /^--([a-z0-9-]+)/.exec(a);
    if (m) (used[sub] = used[sub] || new Set()).add(m[1]);
  }
};
const compose = YAML.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const s of Object.values(compose.services || {})) {
  if (!s.image || !s.image.startsWith("ef21")) continue;
  add((s.command || []).map(String));
  const t = (s.healthcheck || {}).test || [];
  add(t.slice(1).map(String));
}
for (const d of YAML.parseAllDocuments(fs.readFileSync(process.argv[3], "utf8")).map((x) => x.toJS()).filter(Boolean)) {
  const spec = d.spec && d.spec.template && d.spec.template.spec;
  if (!spec) continue;
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    const all = [...(c.command || []), ...(c.args || [])].map(String);
    if (all[0] === "/bin/sh") {
      for (const m of all.join(" ").matchAll(/ef21 (\w+)((?:\s+\\?\s*--[a-z0-9-]+(?:=\S*)?)+)/g)) add(["ef21", m[1], ...m[2].split(/\s+/)]);
      // `sh -c '... exec ef21 "$@" ...' sh SUBCOMMAND FLAGS...`: the args are ef21's.
      if (all.join(" ").includes('ef21 "$@"')) add(["ef21", ...(c.args || []).map(String), "--out"]);
    } else {
      add(all);
    }
  }
}
for (const [sub, flags] of Object.entries(used)) console.log(`${sub} ${[...flags].sort().join(" ")}`);
EOF
  while read -r sub flags; do
    if ! help=$("$bin" "$sub" --help 2>&1); then
      skip "ef21 $sub --help fails (subcommand not built yet?): flags not checked: $flags"
      continue
    fi
    missing=""
    for f in $flags; do grep -q -- "--$f\b" <<<"$help" || missing="$missing --$f"; done
    if [ -z "$missing" ]; then
      pass "ef21 $sub --help lists every flag the deploy files pass ($flags)"
    else
      fail "ef21 $sub --help does not list flags the deploy files pass:$missing"
    fi
  done < "$work/flags.txt"
else
  skip "flag check against ef21 --help (binary '${bin}' not executable)"
fi

e2e_summary
