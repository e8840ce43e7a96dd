#!/usr/bin/env bash
# `make demo` as a new user runs it: a fresh clone of this commit, no ../shared beside it, its own .venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/clone"
cd "$work/clone"
start=$(date +%s)
make demo 2>&1 | tee "$work/demo.log" | tail -n 8
grep -q "episodes succeeded" "$work/demo.log"
test -f demo_out/latest/report.html
echo "fresh-clone demo took $(( $(date +%s) - start )) s (set-up included)"
