"""Bag replay into the live node, with MoveIt on mock hardware (the Panda demo configuration):
goals get real MoveIt plans without an arm.

    ros2 launch launch/replay.launch.py bag:=/data/d435_mcap model:=tiny

Clock: `ros2 bag play --clock` publishes /clock from the recording, every node runs with
use_sim_time. The bag's camera must be static relative to the Panda base: give its pose with
hand_eye_yaml, or camera_pose (x y z qx qy qz qw, base_frame <- camera).
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

ARGUMENTS = [
    ("bag", "", "rosbag2 folder or file to play (required)"),
    ("rate", "1.0", "playback rate"),
    ("loop", "true", "replay the bag in a loop"),
    ("model", "tiny", "hub id, local folder, or tiny"),
    ("params_file", "", "node parameters (default: the package's config/params.yaml)"),
    ("color_topic", "/camera/camera/color/image_raw", "color image topic in the bag"),
    ("depth_topic", "/camera/camera/aligned_depth_to_color/image_raw", "depth topic in the bag, aligned to color"),
    ("info_topic", "/camera/camera/color/camera_info", "color camera_info topic in the bag"),
    ("pair_tolerance_s", "0.15", "largest color/depth stamp difference of a pair (the replay rule)"),
    ("camera_frame_id", "", "camera frame when the bag's images carry none; empty = their header frame_id"),
    ("hand_eye_yaml", "", "base <- camera transform YAML (vla-r1 calibrate hand-eye); overrides camera_pose"),
    (
        "camera_pose",
        "0.5 0.0 0.7 1.0 0.0 0.0 0.0",
        "x y z qx qy qz qw of the camera in the Panda base frame (default: 0.7 m above the table, looking down)",
    ),
    ("allow_execution", "false", "let goals with execute=true run on the mock hardware"),
]
MOVEIT_CONFIG = "moveit_resources_panda_moveit_config"


def _share(package):
    from ament_index_python.packages import get_package_share_directory

    return get_package_share_directory(package)


def _nodes(context):
    from moveit_configs_utils import MoveItConfigsBuilder

    def arg(name):
        return LaunchConfiguration(name).perform(context)

    if not arg("bag"):
        raise RuntimeError("replay.launch.py needs bag:=<rosbag2 folder or file>")
    sim = {"use_sim_time": True}
    moveit_config = (
        MoveItConfigsBuilder("panda", package_name=MOVEIT_CONFIG)
        .robot_description(file_path="config/panda.urdf.xacro")  # its ros2_control uses mock_components
        .trajectory_execution(file_path="config/gripper_moveit_controllers.yaml")
        .moveit_cpp(file_path=str(Path(_share("vla_r1_ros")) / "config" / "moveit_py.yaml"))
        .to_moveit_configs()
    )
    if arg("hand_eye_yaml"):
        from calibration import NamedTransform

        camera_tf = NamedTransform.from_yaml(arg("hand_eye_yaml")).static_transform_publisher_arguments()
    else:
        x, y, z, qx, qy, qz, qw = arg("camera_pose").split()
        camera_tf = [
            "--x",
            x,
            "--y",
            y,
            "--z",
            z,
            "--qx",
            qx,
            "--qy",
            qy,
            "--qz",
            qz,
            "--qw",
            qw,
            "--frame-id",
            "panda_link0",
            "--child-frame-id",
            arg("camera_frame_id") or "camera_color_optical_frame",
        ]
    controllers = str(Path(_share(MOVEIT_CONFIG)) / "config" / "ros2_controllers.yaml")
    play = ["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate")]
    if arg("loop").lower() in ("true", "1", "yes"):
        play.append("--loop")
    params_file = arg("params_file") or str(Path(_share("vla_r1_ros")) / "config" / "params.yaml")
    return [
        ExecuteProcess(cmd=play, output="screen"),
        Node(
            package="tf2_ros",
            executable="static_transform_publisher",
            name="camera_tf",
            arguments=camera_tf,
            parameters=[sim],
        ),
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            output="log",
            parameters=[moveit_config.robot_description, sim],
        ),
        Node(
            package="controller_manager",
            executable="ros2_control_node",
            output="log",
            parameters=[controllers, sim],
            remappings=[("/controller_manager/robot_description", "/robot_description")],
        ),
        *[
            Node(
                package="controller_manager",
                executable="spawner",
                arguments=[name, "-c", "/controller_manager"],
                parameters=[sim],
            )
            for name in ("joint_state_broadcaster", "panda_arm_controller", "panda_hand_controller")
        ],
        Node(
            package="vla_r1_ros",
            executable="vla_r1_node",
            name="vla_r1_node",
            output="screen",
            parameters=[
                moveit_config.to_dict(),
                params_file,
                sim,
                {
                    "model.model": arg("model"),
                    "execution.allow_execution": arg("allow_execution").lower() in ("true", "1", "yes"),
                    "execution.planner": "moveit",
                    "transforms.base_frame": "panda_link0",
                    "camera.color_topic": arg("color_topic"),
                    "camera.depth_topic": arg("depth_topic"),
                    "camera.info_topic": arg("info_topic"),
                    "camera.pair_tolerance_s": float(arg("pair_tolerance_s")),
                    "camera.camera_frame_id": arg("camera_frame_id"),
                },
            ],
        ),
    ]


def generate_launch_description():
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
