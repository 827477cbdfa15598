#!/usr/bin/env bash
# The README's demo: start the sandbox (a local TOP), then validate, plan, apply, and plan again
# to show that a converged shop plans no changes. Uses a fresh state file and sandbox shop each run.
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
workdir=.reconciler/demo
rm -rf "$workdir" && mkdir -p "$workdir"

# The sandbox's fixed demo credentials (documented in README.md); never use real ones in a script.
export TOP_GATEWAY="http://127.0.0.1:${port}/router/rest"
export TOP_APP_KEY=12345678
export TOP_APP_SECRET=sandbox-app-secret
export TOP_SESSION=sandbox-session-demo-shop
# The sandbox's demo Alimama (Taoke) app, which the Taoke cash gifts are sent with (no session).
export ALIMAMA_APP_KEY=23456789
export ALIMAMA_APP_SECRET=sandbox-alimama-secret
export RECONCILER_STATE="$workdir/state.db"

reconciler sandbox serve --port "$port" --data "$workdir/sandbox.json" > "$workdir/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_sandbox/calls", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the sandbox did not start; see .reconciler/demo/sandbox.log")
PY

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step reconciler validate campaigns
step reconciler plan campaigns
step reconciler apply campaigns --auto-approve
step reconciler plan campaigns --detailed-exitcode
echo
echo "Converged: the second plan has no changes (exit code 0)."
