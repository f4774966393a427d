#!/usr/bin/env bash
# Chaos, short (issue 10 item 9): one seeded scenario of tools/chaos.sh — worker kill -9s, an
# aggregator kill -9, connection resets through tools/tcp_proxy.py and a SIGSTOP/SIGCONT against
# a real federation, and a hostile client squatting a killed worker's ids and flooding —
# finishing byte-identical to `ef21 simulate`, with --downlink=delta (odd seeds:
# the hosts' x and g replicas resynchronized on every reattach, to a resumed aggregator too); then
# a shorter one with --client-state=worker (g_i only on the workers: restarted workers rebuild it
# from their --state-dir, and go back to a resumed aggregator's older checkpoint from it). The
# 10-minute soak is `tools/chaos.sh --soak-seconds=600` (odd seeds delta, even seeds auto).
# Usage: chaos_test.sh <ef21-binary> <source-dir>
set -euo pipefail
bash "$2/tools/chaos.sh" --bin="$1" --seed=1 --rounds=2500
exec bash "$2/tools/chaos.sh" --bin="$1" --seed=3 --rounds=1500 --client-state=worker
