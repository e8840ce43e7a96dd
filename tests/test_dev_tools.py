"""The checks of a well-kept project are wired in: CI runs `make lint` before the tests, and the
type-checked paths and ruff's first-party list follow the packages that pyproject.toml installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _installed_top_level_packages(config: dict) -> dict[str, Path]:
    """Top-level package name -> its source folder, from [tool.setuptools] packages and package-dir."""
    setuptools = config["tool"]["setuptools"]
    packages = setuptools.get("packages", [])
    package_dir = setuptools.get("package-dir", {})
    top = {name for name in packages if "." not in name} if isinstance(packages, list) else set()
    return {name: ROOT / package_dir.get(name, name) for name in sorted(top)}


def test_ci_runs_lint_before_the_tests():
    commands = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert "make lint" in commands and "make test" in commands
    assert commands.index("make lint") < commands.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert lint is not None, "the Makefile has no lint target"
    for tool in ("ruff check", "ruff format --check", "mypy"):
        assert tool in lint.group(1), f"make lint does not run {tool}"


def test_mypy_checks_every_installed_package_and_only_existing_paths():
    config = _pyproject()
    files = config["tool"]["mypy"]["files"]
    paths = [ROOT / f for f in files]
    missing = [f for f, p in zip(files, paths, strict=True) if not (p / "__init__.py").is_file()]
    assert not missing, f"[tool.mypy] files names folders that are not packages: {missing}"
    for name, folder in _installed_top_level_packages(config).items():
        assert any(folder == p or p in folder.parents for p in paths), (
            f"package {name} ({folder.relative_to(ROOT)}) is installed but not in [tool.mypy] files"
        )


def test_ruff_knows_every_installed_package_as_first_party():
    config = _pyproject()
    first_party = set(config["tool"]["ruff"]["lint"]["isort"]["known-first-party"])
    unknown = set(_installed_top_level_packages(config)) - first_party
    assert not unknown, f"add {sorted(unknown)} to [tool.ruff.lint.isort] known-first-party"


def test_pre_commit_runs_the_tools_of_make_lint():
    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    for tool in (".venv/bin/ruff check", ".venv/bin/ruff format", ".venv/bin/mypy"):
        assert any(entry.startswith(tool) for entry in entries), f"no pre-commit hook runs {tool}"
