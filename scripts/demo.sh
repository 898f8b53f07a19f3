#!/usr/bin/env bash
# The main job, end to end, on the embedded local control plane (no Fireworks key, no GPUs):
# validate -> plan -> apply the GRPO example -> outputs -> plan again (empty) -> destroy.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
fwctl="$repo/.venv/bin/fwctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/fwctl-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
unset FIREWORKS_API_KEY FWCTL_ENDPOINT FWCTL_STATE
cd "$work"
cp -r "$repo/manifests/examples/grpo" grpo

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$fwctl" validate -f grpo
step "$fwctl" plan -f grpo
step "$fwctl" apply -f grpo --auto-approve
step "$fwctl" output --json
step "$fwctl" show
step "$fwctl" plan -f grpo --detailed-exitcode
step "$fwctl" destroy -f grpo --auto-approve
step "$fwctl" state list
echo
echo "Demo complete: the GRPO stack was created, checked and torn down on the local control plane."
