#!/usr/bin/env bash
# `make demo`: validate, plan, apply (the infrastructure, then releases.yaml's version ring by ring) and plan
# again against a throwaway Render API simulator; `renderer status` shows each tenant on the pinned version.
# Needs no Render account; writes only to a temporary directory, so it can be re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
renderer=.venv/bin/renderer
work=$(mktemp -d)
sim_pid=""
clock_pid=""
cleanup() {
  if [ -n "$clock_pid" ]; then kill "$clock_pid" 2>/dev/null || true; wait "$clock_pid" 2>/dev/null || true; fi
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$renderer" sim serve --port 0 --state "$work/sim-state.json" >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$work/sim.log" && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then cat "$work/sim.log" >&2; exit 1; fi
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/sim.log")
[ -n "$url" ] || { echo "the simulator did not start:" >&2; cat "$work/sim.log" >&2; exit 1; }
owner=$(sed -n 's/^renderer sim: workspace \(tea-[0-9a-v]*\).*/\1/p' "$work/sim.log")

export RENDER_API_URL="$url/v1" RENDER_API_KEY=demo-key RENDER_OWNER_ID="$owner"
lockfile="$work/render.lock.json"
echo "Render API simulator at $url (workspace $owner); lockfile at $lockfile"

# Render takes minutes to build and deploy; the simulator's deploys take 30 s of its clock. Move that
# clock on in the background (10 s every half second) so the demo does not wait for them.
( while sleep 0.5; do
    curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $RENDER_API_KEY" -H 'Content-Type: application/json' \
      -d '{"seconds": 10}' "$url/_sim/clock/advance" || exit 0
  done ) &
clock_pid=$!

step() { printf '\n\033[1m$ renderer %s\033[0m\n' "$*"; "$renderer" "$@"; }
step validate
step plan --lockfile "$lockfile"
step apply --auto-approve --lockfile "$lockfile" --poll-interval 1
step plan --lockfile "$lockfile" --detailed-exitcode
step status --lockfile "$lockfile" --sort cost
printf '\n\033[1m$ renderer sim network --lockfile render.lock.json\033[0m   # the simulator'"'"'s private network model\n'
"$renderer" sim network --lockfile "$lockfile"
printf '\n\033[1m$ cat render.lock.json\033[0m\n'
cat "$lockfile"
