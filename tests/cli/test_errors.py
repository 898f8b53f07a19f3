"""Errors become exit statuses in one place; the light commands stay light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main
from tests.cli.conftest import EXAMPLES, REPO


def test_a_fwctl_error_of_any_layer_is_one_line_and_exit_1(tmp_path: Path) -> None:
    runner = CliRunner()
    state = runner.invoke(main, ["state", "list", "--state", "s3://bucket/x"])
    assert state.exit_code == 1
    assert state.output.strip() == "unsupported state location scheme 's3://'; use a file path or a postgresql:// URL"
    endpoint = runner.invoke(main, ["plan", "-f", str(EXAMPLES / "grpo"), "--endpoint", "ftp://example.com",
                                    "--state", str(tmp_path / "s.json")])
    assert endpoint.exit_code == 1 and endpoint.output.strip().endswith("is not an http(s) URL or 'local'")
    plan_file = runner.invoke(main, ["show", str(tmp_path / "missing.plan")])
    assert plan_file.exit_code == 1 and plan_file.output.startswith("cannot read the plan file")
    usage = runner.invoke(main, ["apply", "x.plan", "--target", "Trainer/a"])
    assert usage.exit_code == 2  # flags stay click's usage errors


def _imported(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "reconciler.cli", *args], cwd=REPO,
                            capture_output=True, text=True, check=False)
    return {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}


def test_help_and_validate_import_no_heavy_library() -> None:
    heavy = {"httpx", "psycopg", "starlette", "uvicorn", "tinker", "rich", "anyio"}
    assert not _imported("--help") & (heavy | {"pydantic", "yaml"})
    assert not _imported("validate", "-f", str(EXAMPLES)) & heavy
