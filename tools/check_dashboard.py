#!/usr/bin/env python3
"""Checks a Grafana dashboard against a real Prometheus.

    tools/check_dashboard.py deploy/grafana/dashboards/ef21-federation.json --offline
    tools/check_dashboard.py DASHBOARD.json --prometheus=http://127.0.0.1:9090 [--require-data]
        [--time=UNIX] | [--start=UNIX --end=UNIX [--step=1s]]

Always (also with --offline): the file is JSON, has a title and uid, panel ids are unique, every
panel and every query names the datasource uid (default ef21-prometheus), every query has a PromQL
expression, and every variable in an expression is a known Grafana one ($__rate_interval,
$__interval, $__range, ...) or given with --var NAME=VALUE.

With --prometheus: each expression, with the Grafana variables replaced by fixed durations
(--rate-interval, default 30s, fits short test runs), is sent to the Prometheus HTTP API
(/api/v1/query at --time, default now; or /api/v1/query_range over --start..--end when given). An
expression Prometheus rejects fails the check. With --require-data an expression must also return
at least one sample that is not NaN; --allow-empty=REGEX exempts the expressions it matches (say,
worker metrics when no worker was scraped).

Only the Python standard library; exit status 0 when everything passed, 1 otherwise, 2 on usage
errors.
"""

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

GRAFANA_VARIABLES = ("__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
                     "__range_ms", "__auto", "__step")
VARIABLE_RE = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]")


def parse_duration(text):
    """Seconds in a Prometheus duration such as 30s, 1m, 1m30s, 500ms."""
    m = re.fullmatch(r"((?:\d+(?:ms|s|m|h|d|w|y))+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))


def walk_panels(panels):
    for panel in panels or []:
        yield panel
        yield from walk_panels(panel.get("panels"))


def panel_name(panel):
    return f"panel {panel.get('id', '?')} {panel.get('title', '')!r}"


def static_checks(dash, uid):
    """Returns (errors, queries) where queries is a list of (panel, refId, expr)."""
    errors, queries = [], []
    if not isinstance(dash, dict):
        return ["the dashboard is not a JSON object"], queries
    if not dash.get("title"):
        errors.append("dashboard has no title")
    if not dash.get("uid"):
        errors.append("dashboard has no uid")
    panels = list(walk_panels(dash.get("panels")))
    if not panels:
        errors.append("dashboard has no panels")
    seen_ids = {}
    for panel in panels:
        name = panel_name(panel)
        pid = panel.get("id")
        if pid is None:
            errors.append(f"{name}: no id")
        elif pid in seen_ids:
            errors.append(f"{name}: id {pid} also used by {seen_ids[pid]}")
        else:
            seen_ids[pid] = name
        if "gridPos" not in panel:
            errors.append(f"{name}: no gridPos")
        if panel.get("type") == "row":
            continue
        ds = panel.get("datasource")
        if not isinstance(ds, dict) or ds.get("uid") != uid:
            errors.append(f"{name}: datasource is {json.dumps(ds)}, not uid {uid!r}")
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"{name}: no queries")
        for target in targets:
            ref = target.get("refId", "?")
            tds = target.get("datasource")
            if tds is not None and (not isinstance(tds, dict) or tds.get("uid") != uid):
                errors.append(f"{name} query {ref}: datasource is {json.dumps(tds)}, not uid {uid!r}")
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                errors.append(f"{name} query {ref}: no PromQL expression")
                continue
            queries.append((panel, ref, expr))
    return errors, queries


def substitute(expr, values):
    """Replaces $name, ${name} and [[name]]; returns (text, unknown variable names)."""
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        unknown.append(name)
        return m.group(0)

    return VARIABLE_RE.sub(repl, expr), unknown


def query(base, expr, args):
    if args.start is not None:
        endpoint = "/api/v1/query_range"
        params = {"query": expr, "start": f"{args.start:.3f}", "end": f"{args.end:.3f}",
                  "step": f"{args.step:g}"}
    else:
        endpoint = "/api/v1/query"
        params = {"query": expr, "time": f"{args.time if args.time is not None else time.time():.3f}"}
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(base.rstrip("/") + endpoint, data=data,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as err:  # 400 bad_data, 422 execution error: JSON body
        body = err.read()
        try:
            payload = json.loads(body)
        except ValueError:
            return None, f"HTTP {err.code}: {body[:200]!r}"
        return None, f"{payload.get('errorType', 'error')}: {payload.get('error', '')}"
    except (urllib.error.URLError, OSError) as err:
        return None, f"cannot reach {base}: {err}"
    payload = json.loads(body)
    if payload.get("status") != "success":
        return None, f"{payload.get('errorType', 'error')}: {payload.get('error', '')}"
    return payload, None


def samples(data):
    """All sample values of a query result as floats."""
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string"):
        return [float(result[1])] if kind == "scalar" else []
    out = []
    for series in result or []:
        if "value" in series:
            out.append(float(series["value"][1]))
        for _, v in series.get("values", []):
            out.append(float(v))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dashboard", help="dashboard JSON file")
    ap.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--offline", action="store_true", help="only the static checks (no Prometheus)")
    ap.add_argument("--datasource-uid", default="ef21-prometheus")
    ap.add_argument("--require-data", action="store_true",
                    help="every expression must return at least one non-NaN sample")
    ap.add_argument("--allow-empty", action="append", default=[], metavar="REGEX",
                    help="with --require-data: expressions matching REGEX may return nothing")
    ap.add_argument("--rate-interval", default="30s", help="value of $__rate_interval (default 30s)")
    ap.add_argument("--interval", default="5s", help="value of $__interval (default 5s)")
    ap.add_argument("--range", dest="range_", default="5m", help="value of $__range (default 5m)")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="value of a dashboard variable")
    ap.add_argument("--time", type=float, help="evaluation time (Unix seconds) of instant queries")
    ap.add_argument("--start", type=float, help="range queries from this Unix time (needs --end)")
    ap.add_argument("--end", type=float, help="range queries up to this Unix time")
    ap.add_argument("--step", type=parse_duration, default=1.0, help="range query step (default 1s)")
    ap.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout per query, seconds")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every expression as sent")
    args = ap.parse_args(argv)
    if (args.start is None) != (args.end is None):
        ap.error("--start and --end go together")
    if not args.offline and not args.prometheus:
        ap.error("give --prometheus=URL, or --offline for the static checks only")
    for d in (args.rate_interval, args.interval, args.range_):
        parse_duration(d)

    values = {
        "__rate_interval": args.rate_interval,
        "__interval": args.interval,
        "__interval_ms": str(int(parse_duration(args.interval) * 1000)),
        "__range": args.range_,
        "__range_s": str(int(parse_duration(args.range_))),
        "__range_ms": str(int(parse_duration(args.range_) * 1000)),
        "__auto": args.interval,
        "__step": args.interval,
    }
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--var wants NAME=VALUE, got {item!r}")
        values[name.lstrip("$")] = value

    try:
        with open(args.dashboard, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as err:
        print(f"FAIL {args.dashboard}: {err}", file=sys.stderr)
        return 1

    errors, queries = static_checks(dash, args.datasource_uid)
    prepared = []
    for panel, ref, expr in queries:
        text, unknown = substitute(expr, values)
        if unknown:
            errors.append(f"{panel_name(panel)} query {ref}: unknown variable(s) "
                          f"{', '.join('$' + u for u in sorted(set(unknown)))} (pass --var)")
            continue
        prepared.append((panel, ref, expr, text))
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    print(f"check_dashboard: {args.dashboard}: title {dash.get('title')!r}, "
          f"{len(list(walk_panels(dash.get('panels'))))} panels, {len(queries)} queries, "
          f"{len(errors)} static problems")
    if args.offline:
        return 1 if errors else 0

    allow = [re.compile(r) for r in args.allow_empty]
    failed = 0
    for panel, ref, expr, text in prepared:
        where = f"{panel_name(panel)} query {ref}"
        if args.verbose:
            print(f"     {where}: {text}")
        data, err = query(args.prometheus, text, args)
        if err:
            print(f"FAIL {where}: Prometheus rejected {text!r}: {err}", file=sys.stderr)
            failed += 1
            continue
        warnings = data.get("warnings") or []
        for w in warnings:
            print(f"WARN {where}: {w}", file=sys.stderr)
        values_found = [v for v in samples(data["data"]) if not math.isnan(v)]
        if args.require_data and not values_found:
            if any(r.search(expr) for r in allow):
                print(f"SKIP {where}: no data, allowed by --allow-empty: {text}")
                continue
            print(f"FAIL {where}: no data (no non-NaN sample) for {text!r}", file=sys.stderr)
            failed += 1
            continue
        series = len(data["data"].get("result") or []) if data["data"].get("resultType") in ("vector", "matrix") else 1
        print(f"ok   {where}: {series} series, {len(values_found)} samples")
    total_failed = failed + len(errors)
    print(f"check_dashboard: {len(prepared) - failed} expressions ok, {total_failed} problems")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
