"""Running the ef21 binary: one configuration into one run directory, many in parallel.

Context holds what every experiment shares (binary, output root, parallelism, tiny or full
grids, transport); Context.run starts `ef21 simulate|run FLAGS --out=DIR` and returns a Result
(summary.json plus the statistics of metrics.csv the tables need). A failing run raises RunFailed
with the command and the tail of its stderr.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess

from . import metrics, stats

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RunFailed(Exception):
    pass


class Context:
    """Options shared by every experiment, and the runner of the ef21 binary."""

    def __init__(self, binary, out, jobs=2, tiny=False, transport="simulate",
                 worker_processes=2):
        self.binary = os.path.abspath(binary)
        self.out = os.path.abspath(out)
        self.jobs = max(1, jobs)
        self.tiny = tiny
        self.transport = transport
        self.worker_processes = worker_processes
        self._help = {}

    def grid(self, grids):
        """The 'tiny' or 'full' entry of a figure module's GRIDS."""
        return grids["tiny" if self.tiny else "full"]

    def command_help(self, command):
        """`ef21 COMMAND --help`, or None when the binary has no such command."""
        if command not in self._help:
            p = subprocess.run([self.binary, command, "--help"], capture_output=True, text=True)
            text = p.stdout + p.stderr
            self._help[command] = text if p.returncode == 0 and f"ef21 {command}" in text else None
        return self._help[command]

    def has_command(self, command):
        return self.command_help(command) is not None

    def run(self, flags, out_dir, transport=None, keep_metrics=True, window=None, stats=True):
        """Runs one configuration into out_dir and returns its Result.

        transport: "simulate" or "run" (default: the context's). keep_metrics=False deletes
        metrics.csv after reading what the tables need (long grid scans would fill the disk).
        window: statistics of metrics.csv over rounds t <= window (default: the whole run);
        stats=False: summary.json only (parsing a long metrics.csv costs more than the run).
        """
        transport = transport or self.transport
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        cmd = [self.binary, transport] + list(flags) + [f"--out={out_dir}"]
        # Runs already go in parallel (jobs); one thread each keeps the 2 cores from thrashing.
        if "--threads=" in (self.command_help(transport) or ""):
            cmd.append("--threads=1")
        if transport == "run":
            cmd.append(f"--worker-processes={self.worker_processes}")
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0:
            raise RunFailed(f"{' '.join(cmd)}\nexit {p.returncode}: {p.stderr.strip()[-2000:]}")
        return Result(out_dir, window, keep_metrics, stats)

    def parallel(self, tasks):
        """Runs callables on `jobs` threads (each one starts ef21 processes); results in order."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = [pool.submit(t) for t in tasks]
            return [f.result() for f in futures]


class Result:
    """What the tables need from one run directory: summary.json plus statistics of metrics.csv."""

    def __init__(self, out_dir, window=None, keep_metrics=True, with_stats=True):
        self.dir = out_dir
        with open(os.path.join(out_dir, "summary.json")) as f:
            self.summary = json.load(f)
        metrics_path = os.path.join(out_dir, "metrics.csv")
        self.min_gns = self.band_gns = None
        if with_stats:
            gns = metrics.load_metrics(metrics_path, max_round=window)["grad_norm_sq"]
            # Rounds without diagnostics (--diagnostics-every > 1) are NaN: only measured ones count.
            gns = gns[gns == gns]
            self.min_gns = float(min(gns))
            self.band_gns = stats.band_mean(gns)
        if not keep_metrics:
            os.remove(metrics_path)

    @property
    def gamma(self):
        return self.summary["gamma"]

    @property
    def eta(self):
        return self.summary.get("eta")

    @property
    def rounds_to_eps(self):
        return self.summary["first_round_below_eps"]

    @property
    def bits_to_eps(self):
        return self.summary["paper_bits_per_client_at_eps"]

    def metrics(self, max_round=None):
        return metrics.load_metrics(os.path.join(self.dir, "metrics.csv"), max_round)
