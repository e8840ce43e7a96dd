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
# and rclpy lives in that system Python, so the project installs next to it.
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
        ros-${ROS_DISTRO}-tf2-ros-py \
        ros-${ROS_DISTRO}-diagnostic-msgs \
        ros-${ROS_DISTRO}-visualization-msgs \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/vla_r1
# Dependencies first (a code change does not reinstall torch): torch from its own index, then the rest.
COPY pyproject.toml constraints.txt README.md ./
RUN python3 -m pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
COPY . .
# --ignore-installed: pip must not try to uninstall Debian-managed Python packages it shadows.
RUN python3 -m pip install --ignore-installed -c constraints.txt ".[realsense]" pytest

# The ROS packages: interfaces (rosidl) and the node (ament_python).
RUN source /opt/ros/${ROS_DISTRO}/setup.bash \
    && cd ros2_ws \
    && colcon build --packages-select vla_r1_interfaces vla_r1_ros --event-handlers console_cohesion+

# Entrypoint: source ROS 2 and the workspace, then run the command (compose passes `ros2 launch ...`).
RUN printf '%s\n' '#!/bin/bash' 'set -e' \
        "source /opt/ros/${ROS_DISTRO}/setup.bash" \
        'source /opt/vla_r1/ros2_ws/install/setup.bash' \
        'exec "$@"' > /entrypoint.sh \
    && chmod +x /entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
CMD ["bash"]
