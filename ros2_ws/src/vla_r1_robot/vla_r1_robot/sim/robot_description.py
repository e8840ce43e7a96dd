"""Where the simulated (and planned) Panda comes from, and how MuJoCo loads it.

The default robot is the Franka Emika Panda of the PyPI package ``example-robot-data`` (BSD-3-Clause
package; the Panda description inside it carries Apache-2.0, from franka_ros' franka_description):
``panda_description/urdf/panda.urdf`` with STL collision meshes, box-shaped finger pads and inertias.
It is installed by the ``sim`` extra, so a fresh machine needs nothing beyond the package registry.
The planner (pinocchio) and the simulator (MuJoCo) read THE SAME file.

MuJoCo imports URDF directly: a ``<mujoco><compiler …/></mujoco>`` element inside ``<robot>`` tells it
where the meshes are, to drop visual geometry (COLLADA, which MuJoCo cannot read) and to keep every
link as its own body (``fusestatic="false"``: ``panda_hand`` must stay a body for the tool frame). The
finger ``mimic`` becomes a joint equality constraint.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

PANDA_PACKAGE = "example-robot-data"
PANDA_SUBDIR = Path("share") / "example-robot-data" / "robots" / "panda_description"
# Franka Emika Panda from the PyPI package example-robot-data (package licence BSD-3-Clause;
# panda_description: Apache-2.0, from frankaemika/franka_ros franka_description)


class RobotDescriptionError(FileNotFoundError):
    """The robot description is not installed or cannot be read."""


def _prefixes() -> list[Path]:
    """Folders that may hold ``cmeel.prefix`` (where cmeel wheels such as example-robot-data install)."""
    seen: list[Path] = []
    for entry in [sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"), *sys.path]:
        if entry and Path(entry, "cmeel.prefix").is_dir() and Path(entry) not in seen:
            seen.append(Path(entry))
    return seen


def panda_description_dir() -> Path:
    """The installed ``panda_description`` folder of example-robot-data."""
    for prefix in _prefixes():
        candidate = prefix / "cmeel.prefix" / PANDA_SUBDIR
        if (candidate / "urdf" / "panda.urdf").is_file():
            return candidate
    raise RobotDescriptionError(
        f"the Panda description is not installed: pip install {PANDA_PACKAGE} (part of the 'sim' extra: "
        "pip install -e '.[sim]'), or pass --urdf with a Panda URDF whose collision meshes sit beside it"
    )


def panda_urdf() -> Path:
    """``panda.urdf`` of example-robot-data: the default robot of the simulator and of its planner."""
    return panda_description_dir() / "urdf" / "panda.urdf"


def _mesh_dir(urdf_path: Path) -> Path:
    """Collision meshes of a panda_description layout (urdf/ and meshes/collision/ side by side), else
    the URDF's own folder (the shared test data keeps them in meshes/collision beside the URDF)."""
    for candidate in (
        urdf_path.parent.parent / "meshes" / "collision",
        urdf_path.parent / "meshes" / "collision",
        urdf_path.parent,
    ):
        if candidate.is_dir() and any(candidate.glob("*.stl")):
            return candidate
    return urdf_path.parent


def robot_spec(urdf_path: str | os.PathLike[str]) -> Any:
    """A ``mujoco.MjSpec`` of the URDF (collision geometry only), ready to add a scene to."""
    import mujoco

    path = Path(urdf_path)
    try:
        text = path.read_text()
    except OSError as error:
        raise RobotDescriptionError(f"cannot read URDF {path}: {error}") from None
    compiler = (
        f'<mujoco><compiler meshdir="{_mesh_dir(path)}" discardvisual="true" fusestatic="false" '
        'balanceinertia="true" strippath="true"/></mujoco>'
    )
    text, count = re.subn(r"(<robot\b[^>]*>)", lambda m: m.group(1) + compiler, text, count=1)
    if count != 1:
        raise RobotDescriptionError(f"{path}: no <robot> element")
    try:
        spec = mujoco.MjSpec.from_string(text)
    except Exception as error:  # noqa: BLE001 - MuJoCo raises plain ValueError/Exception with its parser's text
        raise RobotDescriptionError(f"MuJoCo cannot import URDF {path}: {error}") from None
    for mesh in spec.meshes:  # package:// URIs: the meshes are looked up by file name in meshdir
        mesh.file = os.path.basename(mesh.file)
    return spec
