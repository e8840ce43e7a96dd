"""The whole robot in simulation on a ROS install: the simulated cell (MuJoCo Panda + RGB-D camera on
the RealSense topics, JointTrajectory controller topics), the ground-truth answer server and the
VLA-R1 node executing through the controllers, as `python -m vla_r1_ros.sim.ros_bringup` starts them.

    ros2 launch launch/sim.launch.py allow_execution:=true
    ros2 action send_goal --feedback /vla_r1_node/execute_instruction vla_r1_interfaces/action/ExecuteInstruction \
        "{instruction: 'pick up the red box', task: affordance, execute: true}"

The three parts share one process (the answer server reads the cell's ground truth in memory); DDS
uses the package's shared-memory profile unless one is exported.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

ARGUMENTS = [
    ("allow_execution", "false", "let goals with execute=true move the simulated arm"),
    ("seed", "0", "scene seed of the first layout"),
    ("camera_rate_hz", "5.0", "color/depth/camera_info rate (sim-time stamps)"),
    ("answer_port", "0", "ground-truth answer server port on 127.0.0.1 (0: a free one)"),
]


def _bringup(context):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    arguments = [
        "--seed",
        value["seed"],
        "--camera-rate-hz",
        value["camera_rate_hz"],
        "--answer-port",
        value["answer_port"],
    ]
    if value["allow_execution"].lower() in ("true", "1", "yes"):
        arguments.append("--allow-execution")
    return [
        Node(
            package="vla_r1_ros",
            executable="vla_r1_sim",
            name="vla_r1_sim_bringup",
            output="screen",
            arguments=arguments,
        )
    ]


def generate_launch_description():
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_bringup)])
