"""Static checks of what only runs under ROS: package.xml files, setup.py entry points, the
interface definitions, the launch files' arguments against docs/ros2.md, and ROS imports."""

import ast
import importlib
import py_compile
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vla_r1_ros import node_logic

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "ros2_ws/src"
PKG = SRC / "vla_r1_ros"
IFACES = SRC / "vla_r1_interfaces"
ROBOT = SRC / "vla_r1_robot"
ROS_LAYER = (
    "node.py",
    "moveit_bridge.py",
    "conversions.py",
    "controller_execution.py",
    "sim/ros_cell.py",
    "sim/ros_bringup.py",
    "sim/ros_goal.py",
    "sim/ros_batch.py",
)
# Python module -> the ROS package that provides it (where the names differ)
MODULE_PACKAGE = {"tf2_ros": "tf2_ros_py", "moveit": "moveit_py"}
ROS_MODULES = {
    "rclpy",
    "message_filters",
    "tf2_ros",
    "moveit",
    "builtin_interfaces",
    "std_msgs",
    "sensor_msgs",
    "geometry_msgs",
    "trajectory_msgs",
    "visualization_msgs",
    "diagnostic_msgs",
    "vla_r1_interfaces",
    "launch",
    "launch_ros",
    "launch_testing",
    "moveit_configs_utils",
    "ament_index_python",
    "control_msgs",
    "std_srvs",
}
BUILTIN = {
    "bool",
    "byte",
    "char",
    "float32",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "string",
    "wstring",
}


def _depends(path: Path) -> set[str]:
    root = ET.parse(path).getroot()
    tags = ("depend", "exec_depend", "build_depend", "test_depend", "buildtool_depend", "build_export_depend")
    return {element.text.strip() for tag in tags for element in root.iter(tag)}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_package_xml_files_parse():
    for path, name, build in [
        (PKG / "package.xml", "vla_r1_ros", "ament_python"),
        (ROBOT / "package.xml", "vla_r1_robot", "ament_python"),
        (IFACES / "package.xml", "vla_r1_interfaces", "ament_cmake"),
    ]:
        root = ET.parse(path).getroot()
        assert root.tag == "package" and root.get("format") == "3"
        assert root.findtext("name") == name and root.findtext("export/build_type") == build
        for tag in ("version", "description", "maintainer", "license"):
            assert root.findtext(tag), f"{path}: {tag}"
    interfaces = ET.parse(IFACES / "package.xml").getroot()
    assert interfaces.findtext("member_of_group") == "rosidl_interface_packages"
    assert {"rosidl_default_generators", "rosidl_default_runtime", "action_msgs"} <= _depends(IFACES / "package.xml")


def test_package_xml_lists_every_ros_package_the_ros_layer_imports():
    depends = _depends(PKG / "package.xml")
    files = [PKG / "vla_r1_ros" / name for name in ROS_LAYER] + sorted((ROOT / "launch").glob("*.launch.py"))
    files += sorted((PKG / "test").glob("test_*.py"))
    for path in files:
        for module in _imported_roots(path) & ROS_MODULES:
            assert MODULE_PACKAGE.get(module, module) in depends, f"{path.name} imports {module}"


def test_interfaces_depend_on_the_message_packages_they_use():
    depends = _depends(IFACES / "package.xml")
    cmake = (IFACES / "CMakeLists.txt").read_text()
    for path in list((IFACES / "msg").glob("*.msg")) + list((IFACES / "action").glob("*.action")):
        assert f'"{path.parent.name}/{path.name}"' in cmake, f"{path.name} is not in rosidl_generate_interfaces"
        for package in re.findall(r"^\s*([a-z_]+)/[A-Z]\w*", path.read_text(), re.M):
            assert package in depends and package in cmake, f"{path.name} uses {package}"


def test_only_the_ros_layer_imports_ros():
    for path in (PKG / "vla_r1_ros").rglob("*.py"):
        if path.relative_to(PKG / "vla_r1_ros").as_posix() in ROS_LAYER:
            continue
        ros = _imported_roots(path) & (ROS_MODULES - {"launch"})
        assert not ros, f"{path.name} imports {ros}"


def _fields(text: str) -> list[tuple[str, str, str | None]]:
    """(type, name, constant value) per non-comment line of a .msg section."""
    fields = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(
            r"([A-Za-z_][\w/]*(?:\[\d*\])?)\s+([a-z][a-z0-9_]*|[A-Z][A-Z0-9_]*)(?:\s*=\s*(\S+)|\s+(\S+))?", line
        )
        assert match, f"malformed field line: {raw!r}"
        fields.append((match.group(1), match.group(2), match.group(3)))
    return fields


def _check_type(field_type: str, known_local: set[str]) -> None:
    base = field_type.split("[")[0]
    assert base in BUILTIN or base in known_local or re.fullmatch(r"[a-z_]+/[A-Z]\w*", base), (
        f"unknown type {field_type}"
    )


def test_interface_files_are_well_formed():
    local = {p.stem for p in (IFACES / "msg").glob("*.msg")}
    for path in (IFACES / "msg").glob("*.msg"):
        text = path.read_text()
        assert "---" not in text, f"{path.name}: a message has no sections"
        for field_type, _, _ in _fields(text):
            _check_type(field_type, local)
    action = (IFACES / "action" / "ExecuteInstruction.action").read_text()
    sections = re.split(r"^---\s*$", action, flags=re.M)
    assert len(sections) == 3, "an action has goal --- result --- feedback"
    goal, result, feedback = (_fields(s) for s in sections)
    for section in (goal, result, feedback):
        names = [name for _, name, _ in section]
        assert len(names) == len(set(names))
        for field_type, _, _ in section:
            _check_type(field_type, local)
    assert [n for _, n, _ in goal] == ["instruction", "task", "execute", "max_frame_age_s"]
    assert {"stage", "reasoning", "segment_index", "segment_count", "segment_kind"} == {n for _, n, _ in feedback}
    constants = {name: int(value) for field_type, name, value in result if value is not None}
    assert constants == node_logic.ERROR_CODES, "node_logic.ERROR_CODES must mirror the action's constants"
    assert all(t == "uint8" for t, _, v in result if v is not None)


def test_setup_py_entry_points_resolve():
    tree = ast.parse((PKG / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    keywords = {k.arg: k.value for k in call.keywords}
    scripts = ast.literal_eval(keywords["entry_points"])["console_scripts"]
    names = {}
    for spec in scripts:
        name, target = (s.strip() for s in spec.split("="))
        module, function = target.split(":")
        names[name] = (module, function)
        path = PKG / (module.replace(".", "/") + ".py")
        functions = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert function in functions, f"{spec}: no function {function} in {path.name}"
    assert set(names) == {"vla_r1_node", "realsense_publisher", "vla_r1_sim"}
    # data files exist (colcon installs them)
    for needed in ("resource/vla_r1_ros", "config/params.yaml", "config/moveit_py.yaml", "setup.cfg"):
        assert (PKG / needed).is_file(), needed
    # the ROS-free modules the ROS layer relies on import here
    for module in ("vla_r1_ros.node_logic", "vla_r1_ros.node_config", "vla_r1_robot.bags.realsense_source"):
        importlib.import_module(module)


def _launch_arguments(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.Name) and n.id == "DeclareLaunchArgument" for n in ast.walk(tree))
    assigned = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    arguments = ast.literal_eval(assigned.value)
    assert all(len(a) == 3 and a[2] for a in arguments), "every argument has a default and a description"
    return [a[0] for a in arguments]


def _documented(doc: str, launch_file: str) -> list[str]:
    section = doc.split(f"launch/{launch_file}", 1)[1]
    table = section.split("| argument |", 1)[1].split("\n\n", 1)[0]
    return [row.split("|")[1].strip() for row in table.splitlines()[2:] if row.startswith("|")]


@pytest.mark.parametrize("launch_file", ["arm.launch.py", "replay.launch.py", "sim.launch.py"])
def test_launch_files_compile_and_document_their_arguments(launch_file, tmp_path):
    path = ROOT / "launch" / launch_file
    py_compile.compile(str(path), cfile=str(tmp_path / "x.pyc"), doraise=True)
    declared = _launch_arguments(path)
    documented = _documented((ROOT / "docs/ros2.md").read_text(), launch_file)
    assert declared == documented
    text = path.read_text()
    if launch_file == "arm.launch.py":
        assert ("allow_execution", "false") in [
            (a, d)
            for a, d, _ in ast.literal_eval(next(n for n in ast.parse(text).body if isinstance(n, ast.Assign)).value)
        ]
        assert '"align_depth.enable": "true"' in text
    elif launch_file == "sim.launch.py":
        assert 'executable="vla_r1_sim"' in text and '"--allow-execution"' in text
        assert "vla_r1_sim = vla_r1_ros.sim.ros_bringup:main" in (PKG / "setup.py").read_text()
    else:
        assert '"--clock"' in text and '"use_sim_time": True' in text


def test_the_launch_test_is_a_launch_test():
    tree = ast.parse((PKG / "test/test_node_launch.py").read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_test_description" in functions
    text = (PKG / "test/test_node_launch.py").read_text()
    assert '"execution.allow_execution": False' in text and "assertFalse(result.executed" in text


def _setup_arguments(package_dir: Path, monkeypatch) -> dict:
    """The keyword arguments a package's setup.py gives setup(), run from its folder as colcon does."""
    import runpy

    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(package_dir)
    runpy.run_path(str(package_dir / "setup.py"), run_name="__main__")
    return captured


def test_the_installed_launch_files_are_the_top_level_ones(monkeypatch):
    """`ros2 launch vla_r1_ros arm.launch.py` finds what colcon installs into share/vla_r1_ros/launch:
    those must be the files of the top-level launch/ users look at, not a second copy."""
    data_files = dict(_setup_arguments(PKG, monkeypatch)["data_files"])
    installed = sorted((PKG / path).resolve() for path in data_files["share/vla_r1_ros/launch"])
    top_level = sorted(path.resolve() for path in (ROOT / "launch").glob("*.launch.py"))
    assert top_level and installed == top_level
    assert (PKG / "launch").is_symlink() and (PKG / "launch").resolve() == (ROOT / "launch").resolve()
    config = {(PKG / path).name for path in data_files["share/vla_r1_ros/config"]}
    assert {"params.yaml", "moveit_py.yaml", "fastdds_shm.xml"} <= config
    for files in data_files.values():
        for path in files:
            assert (PKG / path).is_file(), path


def test_the_robot_package_installs_the_same_modules_with_colcon_and_pip(monkeypatch):
    import tomllib

    colcon = sorted(_setup_arguments(ROBOT, monkeypatch)["packages"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    pip = sorted(name for name in pyproject["packages"] if name.split(".")[0] == "vla_r1_robot")
    assert colcon == pip
    assert pyproject["package-dir"]["vla_r1_robot"] == "ros2_ws/src/vla_r1_robot/vla_r1_robot"
    assert (ROBOT / "resource/vla_r1_robot").is_file()
    assert "vla_r1_robot" in _depends(PKG / "package.xml")
