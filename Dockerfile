# VLA-R1 ROS 2 stack: ROS 2 Jazzy + MoveIt 2 (moveit_py) + realsense2_camera + the Panda MoveIt demo
# configuration + this project, with the workspace built by colcon.
#
#   docker build -t vla-r1-ros .                                  # CUDA torch (GPU hosts)
#   docker build -t vla-r1-ros --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .   # CPU only
#
# Pins: the base image by tag (ROS 2 Jazzy on Ubuntu 24.04 "noble"); ROS apt packages come from that
# distribution's current sync (pin further with a snapshots.ros.org mirror if you need bit-for-bit
# rebuilds); torch by version; every Python package by constraints.txt.
ARG ROS_DISTRO=jazzy
FROM ros:jazzy-ros-base-noble

ARG ROS_DISTRO
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Ubuntu 24.04 marks the system Python as externally managed (PEP 668); this image is single-purpose,
# and rclpy lives in that system Python, so the project installs next to it. Debian's pip installs
# into /usr/local and leaves the apt-managed packages in /usr/lib/python3/dist-packages in place
# ("Not uninstalling ... outside environment /usr"): constraints.txt's numpy 2 shadows the apt
# python3-numpy 1.26 for every Python process. The rosidl-generated message modules only use numpy's
# struct-access macros (no C-API table), so they run under numpy 2; the smoke test at the end checks
# rclpy messages and moveit_py's numpy conversions in this image.
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    MUJOCO_GL=egl

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip \
        libusb-1.0-0 \
        ros-${ROS_DISTRO}-moveit \
        ros-${ROS_DISTRO}-moveit-py \
        ros-${ROS_DISTRO}-moveit-configs-utils \
        ros-${ROS_DISTRO}-moveit-resources-panda-moveit-config \
        ros-${ROS_DISTRO}-ros2-control \
        ros-${ROS_DISTRO}-ros2-controllers \
        ros-${ROS_DISTRO}-realsense2-camera \
        ros-${ROS_DISTRO}-rosbag2-storage-mcap \
        ros-${ROS_DISTRO}-launch-testing-ros \
        python3-pytest \
        ros-${ROS_DISTRO}-xacro \
        ros-${ROS_DISTRO}-tf2-ros-py \
        ros-${ROS_DISTRO}-diagnostic-msgs \
        ros-${ROS_DISTRO}-visualization-msgs \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/vla_r1
# Dependencies first (a code change does not reinstall torch): torch from its own index, then the rest.
COPY pyproject.toml constraints.txt README.md ./
RUN python3 -m pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
COPY . .
# No --ignore-installed: it would make pip resolve torch again from PyPI (accelerate and bitsandbytes
# require torch, and constraints.txt does not pin it) and shadow the apt setuptools with the newest
# one; Debian's pip already shadows apt packages instead of uninstalling them. No pip pytest either:
# constraints.txt pins pytest 9, which removed the py.path hook arguments that Jazzy's launch_testing
# plugin declares (PluginValidationError); colcon test uses the apt python3-pytest (7.4) installed above.
RUN python3 -m pip install -c constraints.txt ".[realsense]"

# The ROS packages: interfaces (rosidl), the ROS-free robot core and the node (ament_python).
RUN source /opt/ros/${ROS_DISTRO}/setup.bash \
    && cd ros2_ws \
    && colcon build --packages-select vla_r1_interfaces vla_r1_robot vla_r1_ros --event-handlers console_cohesion+

# Smoke test (fails the build, not a later launch): message modules and moveit_py under the pip numpy,
# a moveit_py Eigen <-> numpy round trip on the Panda model, and the launch_testing pytest plugin.
RUN source /opt/ros/${ROS_DISTRO}/setup.bash && source ros2_ws/install/setup.bash \
    && python3 -c "import numpy as np, rclpy, message_filters, tf2_ros; \
from sensor_msgs.msg import CameraInfo; from vla_r1_interfaces.action import ExecuteInstruction; \
from ament_index_python.packages import get_package_share_directory as share; \
from moveit.planning import MoveItPy, PlanRequestParameters; \
from moveit.core.robot_model import RobotModel; from moveit.core.robot_state import RobotState; \
from rclpy.serialization import serialize_message, deserialize_message; \
info = deserialize_message(serialize_message(CameraInfo(k=np.eye(3).ravel())), CameraInfo); \
assert info.k[8] == 1.0; \
model = RobotModel(urdf_xml_path=share('moveit_resources_panda_description') + '/urdf/panda.urdf', \
                   srdf_xml_path=share('moveit_resources_panda_moveit_config') + '/config/panda.srdf'); \
state = RobotState(model); q = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]); \
state.set_joint_group_positions('panda_arm', q); state.update(); \
assert np.allclose(state.get_joint_group_positions('panda_arm'), q); print('numpy', np.__version__, 'ok')" \
    && python3 -m pytest --collect-only -q -p no:cacheprovider ros2_ws/src/vla_r1_ros/test

# Entrypoint: source ROS 2 and the workspace, then run the command (compose passes `ros2 launch ...`).
RUN printf '%s\n' '#!/bin/bash' 'set -e' \
        "source /opt/ros/${ROS_DISTRO}/setup.bash" \
        'source /opt/vla_r1/ros2_ws/install/setup.bash' \
        'exec "$@"' > /entrypoint.sh \
    && chmod +x /entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
CMD ["bash"]
