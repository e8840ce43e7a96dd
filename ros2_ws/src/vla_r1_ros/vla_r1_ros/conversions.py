"""Messages <-> the stack's plain types. Part of the ROS layer.

Functions that only READ messages work on anything with the message's attributes (duck typing),
so they are tested without ROS; functions that BUILD messages import the message packages inside,
which keeps ``import vla_r1_ros.conversions`` possible on machines without ROS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calibration import CameraModel
from calibration.depth import decode_depth
from vla_r1_robot.bags.images import color_rgb_from_msg, depth_raw_from_msg
from vla_r1_robot.motion.planning import JointTrajectory
from vla_r1_robot.perception.frame import Frame
from vla_r1_robot.poses import se3_from_pose

from .node_logic import DiagnosticEntry, MarkerSpec, ResultData

# --- reading --------------------------------------------------------------------------------------


def stamp_to_s(stamp: Any) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def frame_from_messages(color: Any, depth: Any, info: Any, depth_scale_m: float = 0.001, frame_id: str = "") -> Frame:
    """sensor_msgs Image (color), Image (depth aligned to color), CameraInfo (of color) -> Frame.

    Raises ValueError for what does not fit together (sizes, encodings): the node logs and drops it.
    """
    color_rgb = color_rgb_from_msg(color)
    depth_m = decode_depth(depth_raw_from_msg(depth), depth_scale_m)
    camera = CameraModel.from_camera_info(info, source="camera_info")
    if (camera.width, camera.height) == (0, 0):
        raise ValueError("camera_info has no image size")
    return Frame(color_rgb, depth_m, camera, stamp_to_s(color.header.stamp), frame_id or color.header.frame_id)


def joint_trajectory_from_msg(msg: Any) -> JointTrajectory:
    """trajectory_msgs JointTrajectory -> JointTrajectory (velocities only when every point has them)."""
    points = list(msg.points)
    if not points:
        raise ValueError("the trajectory has no points")
    positions = np.array([list(p.positions) for p in points], dtype=np.float64)
    times = np.array([stamp_to_s(p.time_from_start) for p in points])
    velocities = None
    if all(len(p.velocities) == len(msg.joint_names) for p in points):
        velocities = np.array([list(p.velocities) for p in points], dtype=np.float64)
    return JointTrajectory(tuple(msg.joint_names), positions, times, velocities)


# --- building -------------------------------------------------------------------------------------


def s_to_time_msg(seconds: float):
    from builtin_interfaces.msg import Time

    sec = int(np.floor(seconds))
    return Time(sec=sec, nanosec=min(round((seconds - sec) * 1e9), 999_999_999))


def s_to_duration_msg(seconds: float):
    from builtin_interfaces.msg import Duration

    sec = int(np.floor(seconds))
    return Duration(sec=sec, nanosec=min(round((seconds - sec) * 1e9), 999_999_999))


def pose_msg(base_T_tip: np.ndarray):
    from geometry_msgs.msg import Point, Pose, Quaternion

    se3 = se3_from_pose(base_T_tip, tolerance=1e-5)
    x, y, z = (float(v) for v in se3.translation)
    qx, qy, qz, qw = (float(v) for v in se3.quaternion_xyzw())
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def pose_array_msg(poses_base_T_tip, header):
    from geometry_msgs.msg import PoseArray

    return PoseArray(header=header, poses=[pose_msg(p) for p in poses_base_T_tip])


def joint_trajectory_msg(trajectory: JointTrajectory | None, header=None):
    from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
    from trajectory_msgs.msg import JointTrajectoryPoint

    msg = JointTrajectoryMsg()
    if header is not None:
        msg.header = header
    if trajectory is None:
        return msg
    msg.joint_names = list(trajectory.joint_names)
    for k in range(trajectory.num_points):
        point = JointTrajectoryPoint(
            positions=[float(v) for v in trajectory.positions[k]],
            time_from_start=s_to_duration_msg(float(trajectory.time_from_start_s[k])),
        )
        if trajectory.velocities is not None:
            point.velocities = [float(v) for v in trajectory.velocities[k]]
        msg.points.append(point)
    return msg


def action_msgs(action: Any, header, width: int, height: int):
    """(Affordance2D | None, Trajectory2D | None) for a parsed action."""
    from vla_r1_interfaces.msg import Affordance2D, Trajectory2D

    if action is None:
        return None, None
    if action.kind == "affordance":
        return Affordance2D(
            header=header,
            center_x_normalized=float(action.x),
            center_y_normalized=float(action.y),
            width_normalized=float(action.width),
            height_normalized=float(action.height),
            image_width=width,
            image_height=height,
        ), None
    points = action.as_array()
    return None, Trajectory2D(
        header=header,
        x_normalized=[float(v) for v in points[:, 0]],
        y_normalized=[float(v) for v in points[:, 1]],
        image_width=width,
        image_height=height,
    )


def result_msg(data: ResultData, image_header=None, base_header=None, image_size: tuple[int, int] = (0, 0)):
    """ExecuteInstruction.Result from ResultData; image_header/base_header stamp the 2D and 3D parts."""
    from vla_r1_interfaces.action import ExecuteInstruction
    from vla_r1_interfaces.msg import StageTiming

    result = ExecuteInstruction.Result()
    result.success = data.success
    result.error_code = data.error_code
    result.error_message = data.error_message
    result.task = data.task
    result.reasoning = data.reasoning
    result.raw_text = data.raw_text
    result.executed = data.executed
    result.segment_count = data.segment_count
    result.segments_completed = data.segments_completed
    result.timings = [StageTiming(stage=k, seconds=float(v)) for k, v in data.timings_s.items()]
    outcome = data.outcome
    if outcome is None:
        return result
    if outcome.prediction is not None and image_header is not None:
        affordance, trajectory = action_msgs(outcome.prediction.action, image_header, *image_size)
        if affordance is not None:
            result.affordance = affordance
        if trajectory is not None:
            result.trajectory = trajectory
    if outcome.targets is not None and base_header is not None:
        result.targets = pose_array_msg(outcome.targets.poses_base_T_tip, base_header)
    if outcome.plan is not None:
        result.plan = joint_trajectory_msg(outcome.plan, base_header)
    return result


def image_msg(rgb: np.ndarray, header):
    from sensor_msgs.msg import Image

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return Image(
        header=header, height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3, data=rgb.tobytes()
    )


def depth_mm_image_msg(depth_m: np.ndarray, header):
    """Depth in metres as realsense2_camera publishes it: 16UC1 millimetres, 0 where there is no depth."""
    from sensor_msgs.msg import Image

    depth_mm = np.nan_to_num(np.asarray(depth_m) * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
    depth_mm = depth_mm.round().clip(0, 65535).astype(np.uint16)
    height, width = depth_mm.shape
    return Image(
        header=header,
        height=height,
        width=width,
        encoding="16UC1",
        is_bigendian=0,
        step=width * 2,
        data=depth_mm.tobytes(),
    )


def marker_array_msg(specs: list[MarkerSpec], header, lifetime_s: float = 0.0):
    from geometry_msgs.msg import Point, Vector3
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    clear = Marker(header=header, action=Marker.DELETEALL)  # the previous goal's markers go first
    markers = [clear]
    for spec in specs:
        marker = Marker(header=header, ns=spec.ns, id=spec.marker_id, type=spec.marker_type, action=Marker.ADD)
        marker.pose.orientation.w = 1.0
        marker.scale = Vector3(x=spec.width_m, y=spec.width_m, z=spec.width_m)
        marker.color = ColorRGBA(r=spec.rgba[0], g=spec.rgba[1], b=spec.rgba[2], a=spec.rgba[3])
        marker.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in np.asarray(spec.points_base_m)]
        marker.lifetime = s_to_duration_msg(lifetime_s)
        markers.append(marker)
    return MarkerArray(markers=markers)


def diagnostic_array_msg(entries: list[DiagnosticEntry], stamp, node_name: str):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    statuses = [
        DiagnosticStatus(
            level=bytes([entry.level]),
            name=f"{node_name}: {entry.name}",
            message=entry.message,
            hardware_id=node_name,
            values=[KeyValue(key=k, value=v) for k, v in entry.values.items()],
        )
        for entry in entries
    ]
    array = DiagnosticArray(status=statuses)
    array.header.stamp = stamp
    return array
