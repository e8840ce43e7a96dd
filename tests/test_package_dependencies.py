"""The packages import one way (docs/architecture.md, "Packages and what each may import"):
vla_r1_model -> calibration -> vla_r1_robot -> vla_r1_ros; training -> vla_r1_model; vla_r1_cli on top.
Every import statement of every module counts, those inside functions included."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "vla_r1_model": ROOT / "vla_r1_model",
    "calibration": ROOT / "calibration",
    "training": ROOT / "training",
    "vla_r1_robot": ROOT / "ros2_ws/src/vla_r1_robot/vla_r1_robot",
    "vla_r1_ros": ROOT / "ros2_ws/src/vla_r1_ros/vla_r1_ros",
    "vla_r1_cli": ROOT / "vla_r1_cli",
}
# package -> the project packages and outside packages it must never import
FORBIDDEN = {
    "vla_r1_model": {"calibration", "training", "vla_r1_robot", "vla_r1_ros", "vla_r1_cli", "rclpy"},
    "calibration": {"training", "vla_r1_robot", "vla_r1_ros", "vla_r1_cli", "rclpy"},
    "training": {"calibration", "vla_r1_robot", "vla_r1_ros", "vla_r1_cli", "rclpy"},
    "vla_r1_robot": {
        "training",
        "vla_r1_ros",
        "vla_r1_cli",
        "rclpy",
        "rclpy_message_converter",
        "launch",
        "launch_ros",
        "std_msgs",
        "sensor_msgs",
        "geometry_msgs",
        "trajectory_msgs",
        "visualization_msgs",
        "diagnostic_msgs",
        "control_msgs",
        "vla_r1_interfaces",
        "tf2_ros",
        "message_filters",
        "moveit",
    },
    "vla_r1_ros": {"training", "vla_r1_cli"},
    "vla_r1_cli": set(),
}


def _module_name(package: str, path: Path) -> str:
    parts = path.relative_to(PACKAGES[package]).with_suffix("").parts
    return ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))


def imported_modules(package: str, path: Path) -> set[str]:
    """Absolute names of everything `path` imports; relative imports resolved against its package."""
    name = _module_name(package, path)
    own_package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.split(".")[: len(own_package.split(".")) - (node.level - 1)]
                found.add(".".join(base + ([node.module] if node.module else [])))
            else:
                found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted(PACKAGES[package].rglob("*.py"))


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_nothing_above_it(package):
    assert _modules(package), f"no modules found for {package}"
    violations = []
    for path in _modules(package):
        for module in imported_modules(package, path):
            if module.split(".")[0] in FORBIDDEN[package]:
                violations.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not violations, "\n".join(violations)


def test_only_the_cli_imports_the_cli():
    for package in PACKAGES:
        if package == "vla_r1_cli":
            continue
        for path in _modules(package):
            assert not any(m.split(".")[0] == "vla_r1_cli" for m in imported_modules(package, path)), path


def test_the_check_sees_relative_and_function_level_imports(tmp_path, monkeypatch):
    """The parser the tests above rely on: a relative import two levels up and one inside a function."""
    folder = tmp_path / "vla_r1_robot" / "sim"
    folder.mkdir(parents=True)
    module = folder / "x.py"
    module.write_text("from ..pipeline import Pipeline\n\ndef f():\n    from vla_r1_ros import node\n")
    monkeypatch.setitem(PACKAGES, "vla_r1_robot", tmp_path / "vla_r1_robot")
    assert imported_modules("vla_r1_robot", module) == {"vla_r1_robot.pipeline", "vla_r1_ros"}


def test_pyproject_installs_every_package_folder():
    """A sub-package missing from pyproject's list imports in the checkout but not from an installed wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    for package, folder in PACKAGES.items():
        for init in folder.rglob("__init__.py"):
            assert _module_name(package, init) in listed, f"{init.relative_to(ROOT)} is not in pyproject's packages"
    for package, folder in setuptools["package-dir"].items():
        assert (ROOT / folder) == PACKAGES[package]


def test_the_readme_package_tree_names_every_package_folder():
    readme = (ROOT / "README.md").read_text()
    tree = readme.split("The packages (what each may import", 1)[1].split("```", 2)[1]
    for package, folder in PACKAGES.items():
        assert f"{folder.relative_to(ROOT).parts[-1]}/" in tree, package
        for init in folder.rglob("__init__.py"):
            if init.parent != folder:
                assert f"{init.parent.name}/" in tree, f"README's package tree lacks {init.parent.relative_to(ROOT)}"
