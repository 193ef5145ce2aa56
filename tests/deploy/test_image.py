"""The Dockerfile, checked without a Docker engine: what it installs (`pip install .`: pyproject's runtime
dependencies and the wheel of this project) covers every module the services import and every file they
load, and its entrypoint serves the service of the build argument or runs the command it is given."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES = ("shared", "services", "tourcrm")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_distributions() -> set[str]:
    """pyproject's runtime dependencies and everything they pull in on Linux (what `pip install .` puts in
    the image), with the extras asked for (uvicorn[standard])."""
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = _canonical(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # not installed here: none of the imported modules comes from it
            continue
        for text in requires:
            needed = Requirement(text)
            asked = [{"extra": e} for e in requirement.extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate({"sys_platform": "linux", **env}) for env in asked):
                todo.append(needed)
    return seen


def imported_modules() -> dict[str, str]:
    """Top-level modules the code of shared/, services/ and tourcrm/ imports → where, less the standard
    library and the project's own packages."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES and top != "__future__":
                        found.setdefault(top, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def not_installed(modules: dict[str, str]) -> dict[str, tuple[str, list[str], str]]:
    """Of `modules` (name → where imported), those that no distribution `pip install .` brings provides."""
    providers = metadata.packages_distributions()
    installed = runtime_distributions()
    dev_only = {_canonical(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    missing = {}
    for module, where in modules.items():
        distributions = {_canonical(d) for d in providers.get(module, [])}
        assert distributions, f"{module} (imported at {where}) is installed by no distribution here"
        if not distributions & installed:
            missing[module] = (where, sorted(distributions), "dev extra only" if distributions & dev_only else "")
    return missing


def test_the_image_installs_what_the_services_import() -> None:
    assert re.search(r"^RUN pip install --constraint constraints\.txt \. ", DOCKERFILE, re.M), \
        "the image installs the project with `pip install .` at the versions the suite passed with"
    assert "COPY pyproject.toml README.md constraints.txt ./" in DOCKERFILE
    for package in PACKAGES:
        assert f"COPY {package} ./{package}" in DOCKERFILE
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]) == {f"{p}*" for p in PACKAGES}
    modules = imported_modules()
    assert {"fastapi", "sqlmodel", "aiokafka", "prometheus_client", "jieba"} <= set(modules)  # the scan sees imports
    assert not_installed(modules) == {}, "imported by the services but not installed by `pip install .`"
    # a test-only package imported by service code would be caught
    assert not_installed({"hypothesis": "example"})["hypothesis"][2] == "dev extra only"


def test_the_wheel_ships_every_file_the_services_load(tmp_path: Path) -> None:
    """`pip install .` installs the wheel of the project: every source, migration and data file is in it."""
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                          "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    [wheel] = tmp_path.glob("tourcrm-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", *PACKAGES], capture_output=True, text=True, cwd=REPO,
                             check=True).stdout.split()
    needed = {f for f in tracked if Path(f).suffix in {".py", ".mako", ".ini", ".json", ".yaml"}}
    assert any("/migrations/versions/" in f for f in needed)
    assert needed - shipped == set()


def _entrypoint() -> list[str]:
    return json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.M).group(1))


@pytest.mark.parametrize("args", [[], ["keys", "scopes"]])
def test_the_entrypoint_serves_the_build_argument_or_runs_the_command(args: list[str], tmp_path: Path) -> None:
    """No arguments: `tourcrm serve $TOURCRM_SERVICE` (from the SERVICE build argument); arguments: that command."""
    assert re.search(r"^CMD \[\]$", DOCKERFILE, re.M)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TOURCRM_SERVICE": "no-such-service", "TOURCRM_VAR_DIR": str(tmp_path)}
    run = subprocess.run([*_entrypoint(), *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    if args:
        assert run.returncode == 0, run.stderr
        assert "events:publish" in run.stdout.split()
    else:  # it asked `tourcrm serve` for the service of the build argument, which refused the unknown name
        assert run.returncode != 0
        assert "unknown service 'no-such-service'" in run.stderr
