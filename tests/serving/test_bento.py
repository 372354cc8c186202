"""Serving scales out as BentoML services do: `bentoml build` makes a Bento of the service offline
(temp BENTOML_HOME), with the runtime pins of pyproject/constraints, and the worker count is set at
deploy time without touching the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BENTOML = str(Path(sys.executable).with_name("bentoml"))


def _env(home: Path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENTOML_CONFIG")}
    return {**env, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "PYTHONPATH": str(REPO), **extra}


def _name(requirement: str) -> str:
    return re.split(r"[<>=~!\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_the_bento_pins_every_runtime_dependency_at_its_constraint():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {_name(line): line.strip() for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line}
    packages = yaml.safe_load((REPO / "bentofile.yaml").read_text())["python"]["packages"]
    assert {_name(p): p for p in packages} == {_name(d): pins[_name(d)] for d in deps}


@pytest.mark.slow
def test_bentoml_build_succeeds_offline(tmp_path):
    out = subprocess.run(
        [BENTOML, "build", "--output", "tag"],
        cwd=REPO,
        env=_env(tmp_path, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9"),  # no network
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    [bento] = list((tmp_path / "bentos" / "sector-heatmap").glob("*/bento.yaml"))
    info = yaml.safe_load(bento.read_text())
    assert info["service"] == "serving.service:SectorHeatmap" and info["entry_service"] == "SectorHeatmap"
    src = bento.parent / "src"
    for shipped in ("features/universes/sp500.csv", "features/universes/us_sectors.yaml", "serving/service.py"):
        assert (src / shipped).is_file(), shipped
    assert not (src / "tests").exists() and not (src / "mlruns").exists()
    requirements = (bento.parent / "env" / "python" / "requirements.txt").read_text()
    assert "dask==2026.8.0" in requirements and "bentoml==1.4.39" in requirements
    assert (bento.parent / "env" / "docker" / "Dockerfile").is_file()  # what `bentoml containerize` builds


def test_workers_are_set_at_deploy_time(tmp_path):
    """BENTOML_CONFIG_OVERRIDES (or a BENTOML_CONFIG file) sets the workers `bentoml serve` starts."""
    code = (
        "from serving.service import SectorHeatmap\n"
        "from _bentoml_impl.server.allocator import ResourceAllocator\n"  # what `bentoml serve` asks
        "SectorHeatmap.inject_config()\n"
        "print(ResourceAllocator().get_worker_env(SectorHeatmap)[0])\n"
    )
    overrides = json.dumps({"services": {"SectorHeatmap": {"workers": 3}}})
    for extra, workers in (({}, "1"), ({"BENTOML_CONFIG_OVERRIDES": overrides}, "3")):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=_env(tmp_path, **extra), capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == workers
