"""ament_python package of the ROS-free robot core (colcon builds it; `pip install -e .` at the repository
root installs the same modules for use without ROS)."""

from setuptools import find_packages, setup

package_name = "vla_r1_robot"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA-R1 stack maintainers",
    maintainer_email="vla-r1@example.org",
    description="VLA-R1 robot core without ROS: grounding, safety, kinematics, planning, the task layer, the pipeline, "
    "bag I/O, replay and the simulated cell.",
    license="Apache-2.0",
    tests_require=["pytest"],
)
