"""ament_python package of the VLA-R1 ROS layer (colcon builds it; `pip install -e .` at the repository
root installs the same modules for ROS-free use)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "vla_r1_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.xml")),
        # launch/ is a link to the repository's top-level launch/ (one copy): `ros2 launch vla_r1_ros arm.launch.py`
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA-R1 stack maintainers",
    maintainer_email="vla-r1@example.org",
    description="VLA-R1 ROS 2 node: instruction -> reasoning -> 2D action -> 3D targets -> MoveIt plan (-> execution).",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "vla_r1_node = vla_r1_ros.node:main",
            "realsense_publisher = vla_r1_ros.node:realsense_publisher",
            "vla_r1_sim = vla_r1_ros.sim.ros_bringup:main",
        ],
    },
)
