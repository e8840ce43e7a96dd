"""Build and install vla_r1_interfaces (the .action/.msg package) into a Python environment.

`make setup` runs it with the venv's Python after pip has installed the ROS 2 Jazzy wheels:
a plain CMake build of ros2_ws/src/vla_r1_interfaces with CMAKE_PREFIX_PATH and
CMAKE_INSTALL_PREFIX set to the environment (no colcon, no sourced setup files). Afterwards
``python -c "import rclpy; from vla_r1_interfaces.action import ExecuteInstruction"`` works with no
environment variables set: the wheels' start-up hook puts ``<venv>/lib`` on the library path.

On a full ROS 2 install use colcon instead (docs/ros2.md). Usage:
    python ros2_ws/build_interfaces.py [--build-dir DIR] [--jobs N] [--quiet]
Exit status 0 = installed and importable; 2 = build tools or ROS wheels missing; 1 = the build failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "src" / "vla_r1_interfaces"
# Points the wheels' exported Python/numpy include folders (the wheel-build machine's) at this Python's.
WHEEL_INCLUDES_FIX = HERE / "cmake" / "wheel_python_includes.cmake"
MIN_CMAKE = (3, 21)
IMPORT_CHECK = "import rclpy; from vla_r1_interfaces.action import ExecuteInstruction"
INSTALL_HINT = "Debian/Ubuntu: sudo apt-get install cmake g++ make"


class SetupError(RuntimeError):
    """The build failed; the message says where and why."""

    exit_code = 1


class MissingPrerequisite(SetupError):
    """Something this machine lacks; the message says what to install."""

    exit_code = 2


def missing_build_tools() -> list[str]:
    """What is missing to build the interfaces: cmake (>= 3.21), a C and a C++ compiler, make or ninja."""
    missing = []
    cmake = shutil.which("cmake")
    if cmake is None:
        missing.append("cmake (>= 3.21)")
    else:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"version (\d+)\.(\d+)", out)
        if match is None or tuple(int(v) for v in match.groups()) < MIN_CMAKE:
            missing.append(f"cmake >= 3.21 (found: {out.splitlines()[0] if out else 'unknown version'})")
    if not any(shutil.which(c) for c in ("cc", "gcc", "clang")):
        missing.append("a C compiler (gcc)")
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        missing.append("a C++ compiler (g++)")
    if not any(shutil.which(c) for c in ("make", "ninja")):
        missing.append("make")
    return missing


def check_ros_wheels(prefix: Path) -> None:
    needed = ["share/rosidl_default_generators", "share/ament_cmake", "share/action_msgs"]
    absent = [p for p in needed if not (prefix / p).is_dir()]
    if absent:
        raise MissingPrerequisite(
            f"the ROS 2 wheels are not installed in {prefix} (no {', '.join(absent)}): "
            "run `make setup`, or pip install -e '.[ros]' -c constraints.txt"
        )


def _run(cmd: list[str], log, cwd: Path | None = None, env: dict | None = None) -> None:
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    result = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cmd)


def build(prefix: Path, build_dir: Path, jobs: int, say=print) -> float:
    """Configure, build and install; returns the seconds it took. Raises SetupError or CalledProcessError."""
    missing = missing_build_tools()
    if missing:
        raise MissingPrerequisite(
            f"cannot build vla_r1_interfaces: missing {', '.join(missing)}. Install them "
            f"({INSTALL_HINT}) and run `make setup` again."
        )
    check_ros_wheels(prefix)
    started = time.perf_counter()
    build_dir.mkdir(parents=True, exist_ok=True)
    python = Path(sys.executable)
    generator = [] if shutil.which("make") else ["-G", "Ninja"]
    configure = [
        "cmake",
        str(PACKAGE),
        *generator,
        f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCMAKE_INSTALL_PREFIX={prefix}",
        f"-DPython3_EXECUTABLE={python}",
        "-DBUILD_TESTING=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PROJECT_INCLUDE={WHEEL_INCLUDES_FIX}",
    ]
    env = dict(os.environ)
    env.pop("AMENT_PREFIX_PATH", None)  # build against the venv only, never a half-sourced ROS install
    env.pop("CMAKE_PREFIX_PATH", None)
    log_path = build_dir / "build.log"
    with open(log_path, "w") as log:
        try:
            say(f">> building vla_r1_interfaces into {prefix} (log: {log_path})")
            _run(configure, log, cwd=build_dir, env=env)
            _run(["cmake", "--build", ".", "--parallel", str(jobs)], log, cwd=build_dir, env=env)
            _run(["cmake", "--install", "."], log, cwd=build_dir, env=env)
        except subprocess.CalledProcessError as exc:
            log.flush()
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            raise SetupError(
                f"`{' '.join(exc.cmd[:3])} ...` failed (exit {exc.returncode}); the end of {log_path}:\n"
                + "\n".join(tail)
            ) from exc
    return time.perf_counter() - started


def check_import(python: Path) -> None:
    """Import the action in a fresh interpreter with a clean environment, as a user would."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_LIBRARY_PATH", "_ROS_WHEELS_BOOTSTRAP_COMPLETE", "AMENT_PREFIX_PATH", "PYTHONPATH")
    }
    result = subprocess.run([str(python), "-c", IMPORT_CHECK], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SetupError(f"vla_r1_interfaces was built but does not import:\n{result.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prefix",
        type=Path,
        default=Path(sys.prefix),
        help="the environment to build against and install into (default: this Python's)",
    )
    parser.add_argument("--build-dir", type=Path, default=None, help="default: <prefix>/build/vla_r1_interfaces")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    args = parser.parse_args(argv)
    prefix = args.prefix.resolve()
    build_dir = (args.build_dir or prefix / "build" / "vla_r1_interfaces").resolve()
    try:
        seconds = build(prefix, build_dir, args.jobs)
        check_import(Path(sys.executable))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f">> vla_r1_interfaces installed ({seconds:.0f} s): `{IMPORT_CHECK}` works")
    return 0


if __name__ == "__main__":
    sys.exit(main())
