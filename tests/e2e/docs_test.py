#!/usr/bin/python3
"""Docs test: every command in README.md and docs/DEPLOY.md that can run on this machine runs once.

The commands are the fenced shell blocks of the two pages (ef21tools.doccommands). Each one must
match a rule below, which says how it runs here or why it cannot; a command no rule knows fails the
test, so a page cannot gain a command that nobody tried. Commands run in a sandbox: a temporary
directory with the repository's folders linked (deploy/ and docker-compose.yml copied, so that
documented edits change the copy), build/bin/ef21 the binary under test (also first on PATH as
`ef21`), runs/ empty. Where a page's command cannot run as written, the rule runs the closest
variant and says so:
  - the federation block: 127.0.0.1 and free ports instead of 0.0.0.0:50051 / HOST:50051; the health
    check runs while the aggregator waits for its workers; `ef21 run ... ` gets the aggregator's
    flags, and its metrics.csv must equal the hand-run federation's;
  - scripts/demo.sh with EF21_BINARY (no install, no build); its table must be README's (every
    column but `seconds`), and its network line (the CNN's test accuracy) README's exactly;
  - the reproduction: tools/experiments.py --tiny --only=fig1 (the full run takes minutes);
  - `docker run ef21:latest ARGS`: `ef21 ARGS` with the image's paths mapped to the sandbox;
  - `docker compose up`: the compose file's aggregator, health check and workers, run as processes
    on loopback with --rounds=50 instead of 50,000; the result must equal `ef21 simulate`;
  - `kubectl apply -k deploy/k8s`: the rendered aggregator (with its shell wrapper), the workers'
    init container and the Indexed Job's workers (one per completion index), with Kubernetes'
    $(VAR) expansion from the ConfigMap, as processes on loopback, 50 rounds; the result must
    equal `ef21 simulate`.
The commands that train a network need ef21-networks beside the binary: SKIP (with the reason) in a
build directory where it was not built, FAIL under EF21_DOCS_REQUIRE_NETWORKS=1 (scripts/test.sh).
Time: ~10 s of CPU; 2¼ minutes of wall time on 2 cores at load average 18, far less when idle. Inline `code` in prose is not covered, only fenced blocks.

usage: docs_test.py EF21_BINARY SOURCE_DIR     (tests/e2e/docs_test.sh; ctest passes both)
"""

import os
import re
import signal
from shlex import quote as shlex_quote
import shutil
import subprocess
import sys
import tempfile
import time

BINARY = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else ""
SRC = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tools"))
from ef21tools import compare, doccommands  # noqa: E402

PAGES = ["README.md", "docs/DEPLOY.md"]
PY = "/usr/bin/python3"

results = []  # (status, command, detail)


_clock = [time.monotonic()]


def report(status, cmd, detail=""):
    results.append((status, cmd, detail))
    now = time.monotonic()
    seconds, _clock[0] = now - _clock[0], now
    print(f"{status}: {cmd.page}:{cmd.line}: {cmd.text}  [{seconds:.1f} s]"
          + (f"\n      {detail}" if detail else ""), flush=True)


class Sandbox:
    """A scratch copy of the repository's top level where the pages' commands run."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ef21-docs-")
        for entry in os.listdir(SRC):
            if entry == ".git" or entry.startswith("build") or entry == "runs":
                continue
            path = os.path.join(SRC, entry)
            if entry in ("deploy", "docker-compose.yml", ".dockerignore"):
                (shutil.copytree if os.path.isdir(path) else shutil.copy)(
                    path, os.path.join(self.dir, entry))
            else:
                os.symlink(path, os.path.join(self.dir, entry))
        os.makedirs(os.path.join(self.dir, "build", "bin"))
        os.symlink(BINARY, os.path.join(self.dir, "build", "bin", "ef21"))
        os.makedirs(os.path.join(self.dir, "runs"))
        self.env = dict(os.environ)
        self.env["PATH"] = os.path.join(self.dir, "build", "bin") + os.pathsep + self.env["PATH"]
        self.state = {}

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def run(self, text, timeout=120, env=None):
        """bash -o pipefail -c TEXT in the sandbox: CompletedProcess (stdout, stderr as text)."""
        return subprocess.run(["bash", "-o", "pipefail", "-c", text], cwd=self.dir,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, argv, log, env=None):
        """A background process; its stdout and stderr go to runs/<log>.out."""
        out = open(self.path("runs", log + ".out"), "w")
        return subprocess.Popen(argv, cwd=self.dir, env={**self.env, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT)

    def wait_for_port(self, proc, log, timeout=30):
        """The port of 'listening on HOST:PORT' in a started aggregator's output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"^listening on .*:(\d+)$", open(self.path("runs", log + ".out")).read(),
                          re.M)
            if m:
                return int(m.group(1))
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"no 'listening on' from {log}: "
                           + open(self.path("runs", log + ".out")).read()[-500:])


def ok(p):
    """(passed, detail) of a finished command: exit 0, or the exit code and the output's tail."""
    if p.returncode == 0:
        return True, ""
    return False, f"exit {p.returncode}: {(p.stdout + p.stderr).strip()[-800:]}"


def text_block(page, first):
    """The ```text block of a page whose first line starts with `first`."""
    with open(os.path.join(SRC, page)) as f:
        for body in doccommands.text_blocks(f.read()):
            if body and body[0].startswith(first):
                return body
    return None


# ---------------------------------------------------------------------------------------- rules

def demo(box, cmd):
    p = box.run(f"EF21_BINARY={BINARY} {cmd.text}", timeout=600)
    passed, detail = ok(p)
    if not passed:
        return report("FAIL", cmd, detail)
    want = text_block("README.md", "method ")
    if want is None:
        return report("FAIL", cmd, "README.md has no ```text block with the demo's table")
    cells = lambda line: re.split(r"\s{2,}", line.strip())[:-1]  # noqa: E731 (all but seconds)
    got = [line for line in p.stdout.splitlines() if line.startswith(("method", "-----", "EF21",
                                                                      "||EF21||"))]
    if [cells(x) for x in got] != [cells(x) for x in want]:
        return report("FAIL", cmd, "the demo's table differs from README.md's (columns but "
                                   "seconds):\n" + "\n".join(got) + "\nREADME:\n" + "\n".join(want))
    want = text_block("README.md", "CNN on Fashion-MNIST")
    got = [line for line in p.stdout.splitlines() if line.startswith("CNN on Fashion-MNIST")]
    if want is None or got != want:
        return report("FAIL", cmd, f"the demo's network line {got} differs from README.md's {want}")
    report("PASS", cmd, f"EF21_BINARY=... (no install/build); table equals README's except "
                        f"`seconds`; {p.stdout.count('identical:')} runs identical to simulate")


def simulate_help(box, cmd):
    p = box.run(cmd.text)
    passed, detail = ok(p)
    if passed and "--rounds" not in p.stdout + p.stderr:
        passed, detail = False, "no --rounds in the help text"
    report("PASS" if passed else "FAIL", cmd, detail)


def simulate(box, cmd):
    p = box.run(cmd.text)
    passed, detail = ok(p)
    if not passed:
        return report("FAIL", cmd, detail)
    out = re.search(r"--out=(\S+)", cmd.text).group(1)
    rounds = int(re.search(r"--rounds=(\d+)", cmd.text).group(1))
    rows = compare.read_rows(box.path(out))
    want = text_block("README.md", "round,")
    if want is None or rows[0] != want[0].split(","):
        return report("FAIL", cmd, f"metrics.csv header {','.join(rows[0])} is not README's "
                                   f"{want and want[0]}")
    if len(rows) - 1 != rounds + 1:
        return report("FAIL", cmd, f"{len(rows) - 1} rows in metrics.csv, want {rounds + 1}")
    report("PASS", cmd, f"{rounds + 1} rows; the metrics.csv header is README's")


def version(box, cmd):
    p = box.run(cmd.text.split("#")[0])
    passed, detail = ok(p)
    if passed and not re.match(r"ef21 \d+\.\d+\.\d+ \(commit \S+, \S+ build\)$", p.stdout.strip()):
        passed, detail = False, f"unexpected output {p.stdout.strip()!r}"
    report("PASS" if passed else "FAIL", cmd, detail or p.stdout.strip())


def config_file_federation(box, cmd):
    """README's run.toml example: the page's ```toml block written to the sandbox, a free port for
    50051; the aggregator and the worker run from the file, and metrics.csv must equal
    `ef21 simulate` with the same flags."""
    fed = box.state.setdefault("config-fed", {})
    if "port" not in fed:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            fed["port"] = s.getsockname()[1]
        with open(os.path.join(SRC, cmd.page)) as f:
            toml = next((body for _, lang, body in doccommands.blocks(f.read())
                         if lang == "toml" and body and body[0].startswith("# run.toml")), None)
        if toml is None:
            return report("FAIL", cmd, f"{cmd.page} has no ```toml block starting '# run.toml'")
        with open(box.path("run.toml"), "w") as f:
            f.write("\n".join(toml).replace(":50051", f":{fed['port']}") + "\n")
    argv = cmd.text.replace(":50051", f":{fed['port']}").split()
    if argv[1] == "aggregator":
        fed["agg"] = box.start(argv, "config-aggregator")
        try:
            box.wait_for_port(fed["agg"], "config-aggregator")
        except RuntimeError as e:
            return report("FAIL", cmd, str(e))
        return report("PASS", cmd, f"run.toml from the page, port {fed['port']} for 50051")
    if "agg" not in fed:
        return report("FAIL", cmd, "no aggregator started from run.toml before this worker")
    problems = []
    w = box.start(argv, "config-worker")
    if w.wait(timeout=120) != 0:
        problems.append(f"worker exited {w.returncode}: "
                        + open(box.path("runs", "config-worker.out")).read()[-500:])
    if fed["agg"].wait(timeout=60) != 0:
        problems.append(f"aggregator exited {fed['agg'].returncode}")
    if not problems:
        s = box.run("ef21 simulate --data=data/libsvm/breast-cancer_scale --split=row "
                    "--algorithm=norm-ef21 --k=1 --rounds=100 --out=runs/config-simulate")
        same = compare.compare_files(box.path("runs", "fed-config"), box.path("runs", "config-simulate"))
        if not ok(s)[0] or not same:
            problems.append(f"differs from ef21 simulate with the same flags: {ok(s)[1]} {same.text}")
    report("FAIL" if problems else "PASS", cmd, "; ".join(problems) or
           "the run configured by run.toml equals ef21 simulate with the same flags")


def loopback(text, port=None):
    """Listen addresses to 127.0.0.1 and free ports; HOST:50051 to the aggregator's port."""
    text = re.sub(r"--(listen|metrics-listen)=0\.0\.0\.0:\d+", r"--\1=127.0.0.1:0", text)
    if port is not None:
        text = re.sub(r"\bHOST:50051\b", f"127.0.0.1:{port}", text)
    return text


def stop_finished(proc, timeout=60):
    """An aggregator serves its finished run until SIGTERM (docs/DEPLOY.md, checkpoints): once its
    workers have exited 0 (they read Finish, so the run is complete), stop it; its exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def aggregator(box, cmd):
    argv = loopback(cmd.text).split()
    proc = box.start(argv, "fed-aggregator")
    try:
        port = box.wait_for_port(proc, "fed-aggregator")
    except RuntimeError as e:
        return report("FAIL", cmd, str(e))
    flags = [a for a in argv[2:] if not a.startswith(TRANSPORT_FLAGS)]
    box.state["fed"] = {"proc": proc, "port": port, "flags": flags, "workers": [],
                        "out": re.search(r"--out=(\S+)", cmd.text).group(1)}
    report("PASS", cmd, f"listening on 127.0.0.1:{port} (free port, loopback)")


def worker(box, cmd):
    fed = box.state.get("fed")
    if fed is None:
        return report("FAIL", cmd, "no aggregator started before this worker")
    if not fed.get("health_checked"):
        # The page's health check comes after the workers; run it now, while the aggregator
        # waits for them (a 100-round run ends before the next command could ask).
        health = next((c for c in box.state["commands"] if c.text.startswith("ef21 health")), None)
        if health is not None:
            p = box.run(loopback(health.text, fed["port"]).split("#")[0])
            fed["health_checked"] = (ok(p)[0] and "SERVING" in p.stdout + p.stderr, p)
    argv = loopback(cmd.text, fed["port"]).split()
    fed["workers"].append((cmd, box.start(argv, f"fed-worker-{len(fed['workers'])}")))
    report("PASS", cmd, f"started against 127.0.0.1:{fed['port']} (checked when the run ends)")


def health(box, cmd):
    fed = box.state.get("fed", {})
    checked = fed.get("health_checked")
    if not checked:
        return report("FAIL", cmd, "no aggregator to ask")
    passed, p = checked
    report("PASS" if passed else "FAIL", cmd,
           f"asked while the aggregator waited for its workers: {(p.stdout + p.stderr).strip()}")


def run_like_federation(box, cmd):
    fed = box.state.get("fed")
    if fed is None:
        return report("FAIL", cmd, "no federation above to take the flags from")
    problems = []
    for wcmd, w in fed["workers"]:
        if w.wait(timeout=120) != 0:
            problems.append(f"worker `{wcmd.text}` exited {w.returncode}")
    if stop_finished(fed["proc"]) != 0:
        problems.append(f"aggregator exited {fed['proc'].returncode}: "
                        + open(box.path("runs", "fed-aggregator.out")).read()[-500:])
    text = cmd.text.replace("...", " ".join(fed["flags"]) + " --out=runs/docs-run")
    text = text.split("#")[0]
    p = box.run(text)
    passed, detail = ok(p)
    if not passed:
        problems.append(f"`{text}`: {detail}")
    if not problems:
        same = compare.compare_files(box.path(fed["out"]), box.path("runs", "docs-run"))
        if not same:
            problems.append(f"the hand-run federation and `ef21 run` differ: {same.text}")
    report("FAIL" if problems else "PASS", cmd, "; ".join(problems) or
           f"`...` = the aggregator's flags; the hand-run federation ({len(fed['workers'])} "
           f"workers) finished, and `ef21 run` gives the same metrics.csv: {same.text}")


def experiments(box, cmd):
    m = re.match(r"scripts/build\.sh && (.*)$", cmd.text)
    text = m.group(1) + " --tiny --only=fig1 --binary=build/bin/ef21"
    p = box.run(text, timeout=180)
    passed, detail = ok(p)
    out = re.search(r"--out[ =](\S+)", cmd.text).group(1)
    if passed and not os.path.exists(box.path(out, "fig1", "fig1.png")):
        passed, detail = False, f"no {out}/fig1/fig1.png"
    report("PASS" if passed else "FAIL", cmd, detail or
           f"ran `{text}` (the suite has built the binary; the full run takes minutes)")


def docker_run(box, cmd):
    m = re.match(r"docker run --rm ef21:\S+ (.*)$", cmd.text)
    args = m.group(1).replace("/opt/ef21/data/", "data/").replace("--out=/data/", "--out=runs/docker-")
    p = box.run(f"ef21 {args}")
    passed, detail = ok(p)
    report("PASS" if passed else "FAIL", cmd, detail or f"ran `ef21 {args}` (the image's entrypoint "
                                                        "and paths, without Docker)")


# Flags of the aggregator's transport and security, not of the run: simulate and run take none.
TRANSPORT_FLAGS = ("--listen=", "--metrics-listen=", "--out=", "--insecure", "--tls-",
                   "--workers-file=")


def compose_up(box, cmd):
    """The compose file's ef21 services as local processes, a short run."""
    import yaml  # python3-yaml (scripts/bootstrap.sh)
    p = box.run("docker-compose -f docker-compose.yml config")
    passed, detail = ok(p)
    if not passed:
        return report("FAIL", cmd, f"docker-compose config: {detail}")
    config = yaml.safe_load(p.stdout)
    services = config["services"]
    # The compose secrets (mutual TLS) are made the way its header says, with tools/make_certs.sh.
    secrets = {name: os.path.basename(str(spec.get("file", "")))
               for name, spec in (config.get("secrets") or {}).items()}
    if secrets:
        g = box.run(f"{shlex_quote(os.path.join(SRC, 'tools', 'make_certs.sh'))} certs "
                    "worker-0=0-534 worker-1=535-1069 worker-2=1070-1604")
        if not ok(g)[0]:
            return report("FAIL", cmd, f"tools/make_certs.sh: {ok(g)[1]}")
    ef21 = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("ef21")}
    aggs = [n for n, s in ef21.items() if s["command"][0] == "aggregator"]
    workers = [n for n, s in ef21.items() if s["command"][0] == "worker"]

    def local(args, port=None):
        out = []
        for a in map(str, args):
            a = a.replace("/opt/ef21/data/", "data/").replace("--out=/data/", "--out=runs/compose-")
            a = re.sub(r"^--rounds=\d+$", "--rounds=50", a)
            a = re.sub(r"/run/secrets/([\w.-]+)",
                       lambda m: box.path("certs", secrets.get(m.group(1), m.group(1))), a)
            a = re.sub(r"^--(listen|metrics-listen)=0\.0\.0\.0:\d+$", r"--\1=127.0.0.1:0", a)
            a = re.sub(r"^--target=127\.0\.0\.1:50051$", f"--target=127.0.0.1:{port}", a)
            if port is not None:
                a = re.sub(rf"^--aggregator={aggs[0]}:\d+$", f"--aggregator=127.0.0.1:{port}", a)
            if not a.startswith("--linger-seconds="):
                out.append(a)
        return out

    agg_args = local(ef21[aggs[0]]["command"])
    proc = box.start(["ef21"] + agg_args, "compose-aggregator")
    problems = []
    try:
        port = box.wait_for_port(proc, "compose-aggregator")
        check = [a for a in ef21[aggs[0]]["healthcheck"]["test"] if a != "CMD"]
        h = box.run(" ".join(local(check, port)))
        if not ok(h)[0]:
            problems.append(f"health check `{' '.join(check)}`: {ok(h)[1]}")
        procs = [box.start(["ef21"] + local(ef21[w]["command"], port), f"compose-{w}")
                 for w in workers]
        for w, wp in zip(workers, procs):
            if wp.wait(timeout=120) != 0:
                problems.append(f"{w} exited {wp.returncode}: " + open(box.path(
                    "runs", f"compose-{w}.out")).read().strip()[-300:])
        if problems:
            proc.kill()  # it would wait for the failed workers
        elif stop_finished(proc) != 0:
            problems.append(f"aggregator exited {proc.returncode}")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        problems.append(str(e))
        proc.kill()
    out = next(a for a in agg_args if a.startswith("--out=")).split("=", 1)[1]
    if not problems:
        sim = [a for a in agg_args[1:] if not a.startswith(TRANSPORT_FLAGS + ("--clients=",))]
        # The data is the workers' (the aggregator has none): simulate reads a worker's --data.
        if not any(a.startswith("--data=") for a in sim):
            sim += [a for a in local(ef21[workers[0]]["command"]) if a.startswith("--data=")]
        s = box.run(" ".join(["ef21", "simulate"] + sim + ["--out=runs/compose-simulate"]))
        if not ok(s)[0]:
            problems.append(f"ef21 simulate: {ok(s)[1]}")
        else:
            same = compare.compare_files(box.path(out), box.path("runs", "compose-simulate"))
            if not same:
                problems.append(f"compose federation differs from ef21 simulate: {same.text}")
    report("FAIL" if problems else "PASS", cmd, "; ".join(problems) or
           f"no Docker daemon here: ran the compose file's {aggs[0]}, health check and "
           f"{len(workers)} workers as local processes (--rounds=50, loopback); metrics.csv "
           "equals ef21 simulate's")


def k8s_expand(text, env):
    """Kubernetes' expansion of a command/args string: $(NAME) from env, $$ -> $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def k8s_apply(box, cmd):
    """The rendered manifests' aggregator, init container and Indexed Job workers as processes."""
    import yaml  # python3-yaml (scripts/bootstrap.sh)
    p = box.run("kubectl kustomize deploy/k8s")
    if not ok(p)[0]:
        return report("FAIL", cmd, f"kubectl kustomize: {ok(p)[1]}")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    env = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    env = {**env, "EF21_ROUNDS": "50"}  # 50 rounds instead of the manifests' minutes-long run
    sts = next(d for d in docs if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    job = next(d for d in docs if d["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]

    def local_text(a, port=None):
        a = re.sub(r"(?<![\w/])/data/", "runs/k8s-data/", a)
        a = re.sub(r"(?<![\w/])/state\b", "runs/k8s-state", a)
        a = a.replace("/opt/ef21/data/", "data/")
        a = re.sub(r"0\.0\.0\.0:\d+", "127.0.0.1:0", a)
        if port is not None:
            a = a.replace("ef21-aggregator:50051", f"127.0.0.1:{port}")
        return a

    def local(argv, port=None):
        return [local_text(k8s_expand(str(a), env), port) for a in argv]

    # envFrom: the ConfigMap is the containers' environment (paths mapped like the arguments).
    penv = {k: local_text(str(v)) for k, v in env.items()}

    agg = sts["containers"][0]
    proc = box.start(local(agg.get("command", ["ef21"]) + agg["args"]), "k8s-aggregator", penv)
    problems, procs = [], []
    try:
        port = box.wait_for_port(proc, "k8s-aggregator")
        run_dir = re.search(r"^run directory (\S+)$",
                            open(box.path("runs", "k8s-aggregator.out")).read(), re.M)
        for init in pod.get("initContainers", []):
            i = box.run(" ".join(map(shlex_quote, local(init["command"], port))), timeout=60,
                        env=penv)
            if not ok(i)[0]:
                problems.append(f"init container {init['name']}: {ok(i)[1]}")
        worker = pod["containers"][0]
        argv = local(worker["command"] + worker["args"], port)
        for index in range(job["spec"]["completions"]):
            procs.append(box.start(argv, f"k8s-worker-{index}",
                                   {**penv, "JOB_COMPLETION_INDEX": str(index)}))
        for index, w in enumerate(procs):
            if w.wait(timeout=120) != 0:
                problems.append(f"worker {index} exited {w.returncode}: " + open(box.path(
                    "runs", f"k8s-worker-{index}.out")).read().strip()[-300:])
        if problems:
            proc.kill()  # it would wait for the failed workers
        elif stop_finished(proc) != 0:
            problems.append(f"aggregator exited {proc.returncode}")
        if not run_dir:
            problems.append("the aggregator did not say its run directory")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        problems.append(str(e))
    for q in [proc] + procs:
        if q.poll() is None:
            q.kill()
            q.wait()
    if not problems:
        flags = [a for a in local(agg["args"][1:]) if not a.startswith(
            TRANSPORT_FLAGS + ("--clients=", "--checkpoint-"))]
        # The data is the workers' (the aggregator has none): simulate reads the ConfigMap's.
        if not any(a.startswith("--data=") for a in flags):
            flags.append(f"--data={penv['EF21_DATA']}")
        s = box.run(" ".join(["ef21", "simulate"] + flags + ["--out=runs/k8s-simulate"]))
        same = compare.compare_files(box.path(run_dir.group(1)), box.path("runs", "k8s-simulate")) \
            if ok(s)[0] else None
        if not same:
            problems.append(f"the Kubernetes federation differs from ef21 simulate: "
                            f"{same.text if same else ok(s)[1]}")
    report("FAIL" if problems else "PASS", cmd, "; ".join(problems) or
           f"no cluster here: ran the rendered aggregator (its /bin/sh wrapper: run directory "
           f"{run_dir.group(1)}), the workers' init container and {len(procs)} Indexed Job "
           f"workers as local processes (EF21_ROUNDS=50, loopback, paths mapped); metrics.csv "
           "equals ef21 simulate's")


def kustomize(box, cmd):
    p = box.run(cmd.text)
    passed, detail = ok(p)
    if passed and re.search(r"warning|deprecated", p.stderr, re.I):
        passed, detail = False, f"warnings: {p.stderr.strip()}"
    images = sorted(set(re.findall(r"image: (\S+)", p.stdout)))
    if passed and box.state.get("image") and images != [box.state["image"]]:
        passed, detail = False, f"images {images}, want [{box.state['image']}] (after the sed)"
    report("PASS" if passed else "FAIL", cmd, detail or f"no warnings; images {images}")


def set_image(box, cmd):
    p = box.run(cmd.text)
    passed, detail = ok(p)
    name = re.findall(r"newName: ([^|']+)", cmd.text)[-1]
    tag = re.findall(r"newTag: ([^|']+)", cmd.text)[-1]
    box.state["image"] = f"{name}:{tag}"
    report("PASS" if passed else "FAIL", cmd, detail or
           f"on the sandbox's copy of deploy/k8s; the next render must use {name}:{tag}")


def runs_ok(box, cmd):
    p = box.run(cmd.text.split(" #")[0])
    report("PASS" if p.returncode == 0 else "FAIL", cmd, ok(p)[1])


def skip(reason):
    return lambda box, cmd: report("SKIP", cmd, reason)


# `ef21` re-executes itself as ef21-networks (LibTorch) from its own directory for --problem=network
# (cli/network_binary.h). A build directory where only `ef21` was built has none.
NETWORKS = os.path.join(os.path.dirname(os.path.realpath(BINARY)), "ef21-networks")
REQUIRE_NETWORKS = "EF21_DOCS_REQUIRE_NETWORKS"


def needs_networks(rule):
    """`rule` for a command that trains a network: it runs when ef21-networks was built beside the
    binary; otherwise SKIP saying so — except with EF21_DOCS_REQUIRE_NETWORKS=1 (scripts/test.sh,
    which CI runs after building every target), where a missing ef21-networks fails."""
    def run(box, cmd):
        if os.access(NETWORKS, os.X_OK):
            return rule(box, cmd)
        if os.environ.get(REQUIRE_NETWORKS) == "1":
            return report("FAIL", cmd, f"no ef21-networks at {NETWORKS} and {REQUIRE_NETWORKS}=1 "
                                       "(the full build makes it)")
        report("SKIP", cmd, f"trains a network, which needs ef21-networks beside the binary; "
                            f"{NETWORKS} was not built in this build directory (`cmake --build "
                            f"{os.path.dirname(os.path.dirname(NETWORKS))} --target "
                            f"ef21-networks` builds it; the full build and CI run this command)")
    return run


NO_DAEMON = "needs a Docker daemon (none on this machine)"
NO_CLUSTER = ("needs a Kubernetes cluster (none on this machine); tests/e2e/deploy_test.sh "
              "validates the rendered manifests offline")
RULES = [
    (r"scripts/demo\.sh\b", needs_networks(demo)),
    (r"scripts/test\.sh\b", skip("the whole test suite, of which this test is a part")),
    (r"build/bin/ef21 simulate --help", simulate_help),
    (r"build/bin/ef21 simulate .*--problem=network .*--out=", needs_networks(simulate)),
    (r"build/bin/ef21 simulate .*--out=", simulate),
    (r"build/bin/ef21 --version", version),
    (r"ef21 (aggregator|worker) --config=run\.toml ", config_file_federation),
    (r"ef21 aggregator ", aggregator),
    (r"ef21 worker ", worker),
    (r"ef21 health ", health),
    (r"ef21 run --worker-processes=\d+ \.\.\.", run_like_federation),
    (r"scripts/build\.sh && /usr/bin/python3 tools/experiments\.py ", experiments),
    (r"docker build ", skip(NO_DAEMON + "; tests/e2e/deploy_test.sh checks the Dockerfile "
                            "(EF21_DOCKER_BUILD=1 builds it where a daemon runs)")),
    (r"docker push ", skip(NO_DAEMON + " and a registry")),
    (r"docker run --rm ef21:", docker_run),
    (r"docker compose up|docker-compose up", compose_up),
    (r"docker cp ", skip(NO_DAEMON + " and a finished compose run")),
    (r"sed -i .*deploy/k8s/kustomization\.yaml$", set_image),
    (r"kubectl kustomize deploy/k8s\s*(#.*)?$", kustomize),
    (r"kubectl kustomize deploy/k8s \| node tools/k8s-validate/validate\.js$", runs_ok),
    (r"kubectl apply -k deploy/k8s$", k8s_apply),
    (r"kubectl (apply|-n) ", skip(NO_CLUSTER)),
    (r"tools/check_dashboard\.py \S+ --offline$", runs_ok),
    (r"tools/check_dashboard\.py \S+ --prometheus=http://localhost:9090",
     skip("needs the compose Prometheus; tests/e2e/hand_run_federation_test.sh runs "
          "check_dashboard.py --require-data against a real Prometheus with "
          "deploy/prometheus/prometheus.yml scraping the compose federation run by hand, and "
          "prometheus_scrape_test.sh against `ef21 run`")),
]


def main():
    if not os.access(BINARY, os.X_OK):
        print(f"FAIL: no ef21 binary at {BINARY!r}")
        return 1
    started = time.monotonic()
    box = Sandbox()
    try:
        cmds = []
        for page in PAGES:
            with open(os.path.join(SRC, page)) as f:
                cmds += doccommands.commands(f.read(), page)
        box.state["commands"] = cmds
        for cmd in cmds:
            rule = next((fn for pattern, fn in RULES if re.match(pattern, cmd.text)), None)
            if rule is None:
                report("FAIL", cmd, "no rule in tests/e2e/docs_test.py says how to run this "
                                    "command here (or why it cannot run): add one")
                continue
            try:
                rule(box, cmd)
            except (subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
                report("FAIL", cmd, f"{type(e).__name__}: {e}")
    finally:
        fed = box.state.get("fed")
        procs = ([fed["proc"]] + [w for _, w in fed["workers"]]) if fed else []
        procs += [p for p in [box.state.get("config-fed", {}).get("agg")] if p is not None]
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(box.dir, ignore_errors=True)
    counts = {s: sum(1 for r in results if r[0] == s) for s in ("PASS", "FAIL", "SKIP")}
    print(f"docs_test: {len(results)} commands from {', '.join(PAGES)}: {counts['PASS']} ran and "
          f"passed, {counts['FAIL']} failed, {counts['SKIP']} cannot run here "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if counts["FAIL"] or not counts["PASS"] else 0


if __name__ == "__main__":
    sys.exit(main())
