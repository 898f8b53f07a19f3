#!/usr/bin/env bash
# The main job, end to end, on a local control plane (no Fireworks key, no GPUs):
# validate -> plan -> apply the GRPO example -> outputs -> plan again (empty) -> the research loop
# (three training steps with the official SDK, reconnecting from `fwctl output --json`) -> destroy.
# The plane is `fwctl local serve` on a free 127.0.0.1 port, so the training script reaches it too.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
fwctl="$repo/.venv/bin/fwctl"
python="$repo/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/fwctl-demo.XXXXXX")"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
unset FIREWORKS_API_KEY FWCTL_ENDPOINT FWCTL_STATE
cd "$work"
cp -r "$repo/manifests/examples/grpo" grpo

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$fwctl" local serve --port "$port" --db "$work/local.db" --speed "${FWCTL_LOCAL_SPEED:-1}" >/dev/null 2>&1 &
server=$!
export FWCTL_ENDPOINT="http://127.0.0.1:$port"
for _ in $(seq 100); do
  "$python" -c "import urllib.request; urllib.request.urlopen('$FWCTL_ENDPOINT/_local/healthz', timeout=1)" \
    2>/dev/null && break
  sleep 0.1
done

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$fwctl" validate -f grpo
step "$fwctl" plan -f grpo
step "$fwctl" apply -f grpo --auto-approve
step "$fwctl" output --json
step "$fwctl" show
step "$fwctl" plan -f grpo --detailed-exitcode
"$fwctl" output -f grpo --json > outputs.json
FIREWORKS_API_KEY=fwctl-local-key step "$python" "$repo/scripts/training_loop.py" outputs.json
step "$fwctl" destroy -f grpo --auto-approve
step "$fwctl" state list
echo
echo "Demo complete: the GRPO stack was created, trained on for three steps with the official SDK, sampled through its deployment, and torn down"
echo "on the local control plane."
