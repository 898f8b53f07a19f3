"""Plan of a for-each sweep vs the same resources written out (issue 16).

    python benchmarks/bench_sweep.py [--points 50] [--runs 5]

The sweep is manifests/examples/sweep with --points points (a policy trainer, a rollout deployment
and a binding per point, one shared reference); the written-out stack is exactly the resources the
sweep stamps, one plain document each (generated from the loaded sweep, so both plan the same
creates). Each `fwctl plan --json` is a fresh process against a `fwctl local serve` on 127.0.0.1
with no state yet; median wall time of --runs, per resource, and the ratio sweep / written-out
(the issue's bar: no slower per resource, i.e. a ratio near 1.0). Also the in-process
``load_manifests`` time of each, where the variable and for-each resolution happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.manifest import VariableInputs, load_manifests
from reconciler.model.variables import remote_name

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_apply import KEY, serve, stop  # noqa: E402


def _points(count: int) -> str:
    keys = ["1e-5", *(f"p{i}" for i in range(1, count))]  # the example's reference follows policy[1e-5]
    return "{" + ", ".join(f"{key}: {{lr: {1 + i}.0e-6}}" for i, key in enumerate(keys)) + "}"


def _write_out(sweep: Path, out: Path, assignment: str) -> int:
    """The stamped resources of the sweep as plain documents (JSON is YAML); returns how many."""
    manifests = load_manifests([str(sweep)], variables=VariableInputs(assignments=(assignment,), env={}))
    out.mkdir()
    assert manifests.stack is not None
    stack = manifests.stack.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    stack["spec"].pop("variables", None)
    docs = [stack, *(r.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                     for r in manifests.resources.values())]
    for doc, kind in zip(docs, ["Stack", *(r.kind for r in manifests.resources.values())], strict=True):
        doc.update(apiVersion="fwctl/v1", kind=kind)
    text = "\n---\n".join(json.dumps(d) for d in docs) + "\n"
    for resource in manifests.resources.values():  # written out, an instance is a plain name: policy-p1
        name = resource.metadata.name
        text = text.replace(json.dumps(name), json.dumps(remote_name(name)))
    (out / "all.yaml").write_text(text)
    return len(manifests.resources)


def _plan(directory: Path, url: str, runs: int, *extra: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=url, FIREWORKS_API_KEY=KEY, NO_COLOR="1")
    fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    times = []
    for _ in range(runs):
        state = directory.parent / f"{directory.name}-state.json"
        started = time.perf_counter()
        done = subprocess.run([fwctl, "plan", "--json", "-f", str(directory), "--state", str(state), *extra],
                              capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"fwctl plan failed:\n{done.stderr}")
    return statistics.median(times)


def _load_time(directory: Path, runs: int, inputs: VariableInputs) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        load_manifests([str(directory)], variables=inputs)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fwctl-bench-sweep-") as tmp:
        root = Path(tmp)
        sweep, written = root / "sweep", root / "written"
        shutil.copytree(REPO / "manifests" / "examples" / "sweep", sweep)
        assignment = f"sweep={_points(args.points)}"
        count = _write_out(sweep, written, assignment)
        proc, url = serve(root / "local.db", 100.0)
        try:
            swept = _plan(sweep, url, args.runs, "-var", assignment)
            plain = _plan(written, url, args.runs)
        finally:
            stop(proc)
        load_swept = _load_time(sweep, args.runs, VariableInputs(assignments=(assignment,), env={}))
        load_plain = _load_time(written, args.runs, VariableInputs(env={}))
    print(f"{args.points}-point sweep = {count} resources (median of {args.runs} `fwctl plan --json`, no state):")
    print(f"  sweep        {swept * 1000:8.1f} ms   {swept / count * 1000:6.2f} ms/resource   "
          f"(load_manifests {load_swept * 1000:6.1f} ms)")
    print(f"  written out  {plain * 1000:8.1f} ms   {plain / count * 1000:6.2f} ms/resource   "
          f"(load_manifests {load_plain * 1000:6.1f} ms)")
    print(f"  per-resource ratio sweep / written-out: {swept / plain:.2f}")


if __name__ == "__main__":
    main()
