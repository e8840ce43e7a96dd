"""Real arm bringup: camera, hand-eye transform, vla_r1_node planning with MoveIt (moveit_py inside
the node) or with pinocchio and executing through the ros2_control controllers.

    ros2 launch launch/arm.launch.py hand_eye_yaml:=/calib/hand_eye.yaml \
        moveit_config_package:=moveit_resources_panda_moveit_config robot_name:=panda
    ros2 launch launch/arm.launch.py hand_eye_yaml:=/calib/hand_eye.yaml planner:=pinocchio \
        urdf_path:=/robot/panda.urdf arm_controller:=panda_arm_controller gripper_controller:=panda_hand_controller

Execution stays OFF unless allow_execution:=true (and then a goal must ALSO ask for it).
The arm's driver (ros2_control + controllers, joint_states) is the robot vendor's launch, started
separately; this file only needs its MoveIt configuration package.
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

ARGUMENTS = [
    (
        "hand_eye_yaml",
        "",
        "transform YAML written by `vla-r1 calibrate hand-eye` (base <- camera, or ee <- camera "
        "for eye-in-hand); published as a static transform",
    ),
    ("eye_in_hand", "false", "true when the camera rides on the arm: base_T_camera is looked up at each frame's stamp"),
    ("moveit_config_package", "moveit_resources_panda_moveit_config", "the robot's MoveIt configuration package"),
    ("robot_name", "panda", "robot name for MoveItConfigsBuilder (the URDF/SRDF names inside that package)"),
    ("base_frame", "panda_link0", "robot base frame: targets and plans are expressed in it"),
    ("planning_group", "panda_arm", "MoveIt planning group"),
    ("pose_link", "panda_hand", "link the target poses are for"),
    ("params_file", "", "node parameters (default: the package's config/params.yaml)"),
    ("model", "GigaAI-Research/vla-r1", "hub id, local folder, or tiny"),
    ("allow_execution", "false", "allow goals with execute=true to move the arm"),
    ("planner", "moveit", "moveit (moveit_py plans and executes) or pinocchio (the task plan through ros2_control)"),
    ("urdf_path", "", "planner pinocchio: the robot's URDF"),
    ("arm_controller", "panda_arm_controller", "planner pinocchio: the arm's JointTrajectoryController"),
    ("gripper_controller", "panda_hand_controller", "planner pinocchio: the gripper's controller"),
    ("camera", "realsense2_camera", "realsense2_camera (the ROS driver) or pyrealsense2 (this package's publisher)"),
    (
        "serial_no",
        "",
        "RealSense serial number (digits, or realsense-ros' _-prefixed form); empty = the first camera found",
    ),
]


def _hand_eye_and_moveit(context):
    from moveit_configs_utils import MoveItConfigsBuilder

    from calibration import NamedTransform  # the project's reader of the hand-eye YAML

    actions = []
    hand_eye = LaunchConfiguration("hand_eye_yaml").perform(context)
    if hand_eye:
        transform = NamedTransform.from_yaml(hand_eye)
        actions.append(
            Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                name="hand_eye_tf",
                arguments=transform.static_transform_publisher_arguments(),
            )
        )
    planner = LaunchConfiguration("planner").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context) or str(
        Path(_share("vla_r1_ros")) / "config" / "params.yaml"
    )
    overrides = {
        "model.model": LaunchConfiguration("model"),
        "execution.allow_execution": _bool(context, "allow_execution"),
        "execution.planner": planner,
        "execution.planning_group": LaunchConfiguration("planning_group"),
        "execution.pose_link": LaunchConfiguration("pose_link"),
        "transforms.base_frame": LaunchConfiguration("base_frame"),
        "transforms.eye_in_hand": _bool(context, "eye_in_hand"),
    }
    parameters = [params_file, overrides]
    if planner == "moveit":
        moveit_config = (
            MoveItConfigsBuilder(
                LaunchConfiguration("robot_name").perform(context),
                package_name=LaunchConfiguration("moveit_config_package").perform(context),
            )
            .moveit_cpp(file_path=str(Path(_share("vla_r1_ros")) / "config" / "moveit_py.yaml"))
            .to_moveit_configs()
        )
        parameters.insert(0, moveit_config.to_dict())
    else:  # pinocchio: the task plan goes to the ros2_control controllers (control_msgs actions)
        overrides.update(
            {
                "execution.urdf_path": LaunchConfiguration("urdf_path"),
                "execution.arm_controller": LaunchConfiguration("arm_controller"),
                "execution.gripper_controller": LaunchConfiguration("gripper_controller"),
            }
        )
    actions.append(
        Node(package="vla_r1_ros", executable="vla_r1_node", name="vla_r1_node", output="screen", parameters=parameters)
    )
    return actions


def _camera(context):
    camera = LaunchConfiguration("camera").perform(context)
    # a bare serial number would be read as an integer parameter; realsense2_camera takes the string
    # form "_<digits>" (and strips the "_"), our publisher a str-typed parameter
    serial = LaunchConfiguration("serial_no").perform(context).strip().lstrip("_")
    if camera == "realsense2_camera":
        arguments = {"align_depth.enable": "true", "enable_sync": "true", "pointcloud.enable": "false"}
        if serial:
            arguments["serial_no"] = "_" + serial
        return [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(Path(_share("realsense2_camera")) / "launch" / "rs_launch.py")),
                launch_arguments=arguments.items(),
            )
        ]
    if camera == "pyrealsense2":
        return [
            Node(
                package="vla_r1_ros",
                executable="realsense_publisher",
                name="vla_r1_realsense",
                output="screen",
                parameters=[{"serial": ParameterValue(serial, value_type=str)}],
            )
        ]
    return []


def _bool(context, name):
    return LaunchConfiguration(name).perform(context).strip().lower() in ("true", "1", "yes")


def _share(package):
    from ament_index_python.packages import get_package_share_directory

    return get_package_share_directory(package)


def generate_launch_description():
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS
    ]
    return LaunchDescription(
        declared + [OpaqueFunction(function=_camera), OpaqueFunction(function=_hand_eye_and_moveit)]
    )
