"""execution-environment.yml builds: `ansible-builder create` writes a build context whose
Containerfile installs the pinned ansible package and ansible-runner, and whose Python and
system requirements are the collection's (meta/execution-environment.yml's files)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _pin(name: str) -> str:
    for line in (REPO / "requirements" / "dev.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name}=="):
            return line.strip()
    raise AssertionError(f"{name} is not pinned in requirements/dev.txt")


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    builder = shutil.which("ansible-builder")
    assert builder, "ansible-builder is in requirements/dev.txt"
    out = tmp_path_factory.mktemp("ee") / "context"
    subprocess.run(
        [builder, "create", "-f", str(REPO / "execution-environment.yml"), "-c", str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return out


def test_the_containerfile_installs_the_tested_ansible_and_runner(context: Path) -> None:
    (containerfile,) = [p for p in context.iterdir() if p.name in ("Containerfile", "Dockerfile")]
    text = containerfile.read_text(encoding="utf-8")
    assert f'ANSIBLE_INSTALL_REFS="{_pin("ansible")} {_pin("ansible-runner")}"' in text
    assert "introspect" in text and "install-from-bindep" in text


def test_the_python_and_system_needs_are_the_collections(context: Path) -> None:
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    python = (REPO / meta["dependencies"]["python"]).read_text(encoding="utf-8")
    system = (REPO / meta["dependencies"]["system"]).read_text(encoding="utf-8")
    assert (context / "_build" / "requirements.txt").read_text(encoding="utf-8") == python
    assert (context / "_build" / "bindep.txt").read_text(encoding="utf-8") == system
    for name in ("boto3", "botocore"):
        assert f"{_pin(name)}\n" in python, f"{name}: not the controller's pin"


def test_no_collection_comes_from_galaxy() -> None:
    spec = yaml.safe_load((REPO / "execution-environment.yml").read_text(encoding="utf-8"))
    assert "galaxy" not in spec["dependencies"]
