"""`vla-r1 bench ros-intake`: does the node keep up with a RealSense at sensor rate?

Three processes on this machine, in one DDS domain of their own (localhost discovery only):
- a publisher of 640x480 rgb8 color + 16UC1 depth aligned to color + camera_info at ``--rate-hz``
  on the realsense2_camera topic names, fresh stamps (color and depth share one, as the driver does);
- the real vla_r1_node (frame_sync pairing, the executor `main` spins it with; no model request);
- a bare rclpy subscriber of the same three topics (SingleThreadedExecutor, callbacks that only count).
Both receivers run side by side in the same measurement window; each reports the pairs it took in
and the CPU seconds its process spent (all threads). Part of the ROS layer (needs rclpy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# the shared-memory Fast DDS profile shipped with vla_r1_ros (ros2_ws/src/vla_r1_ros/config/fastdds_shm.xml)
from vla_r1_ros.sim.ros_bringup import FASTDDS_PROFILE as SHM_PROFILE

COLOR_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/camera/color/camera_info"
CAMERA_FRAME = "camera_color_optical_frame"
HAND_EYE = (
    "frame_id: base_link\nchild_frame_id: camera_color_optical_frame\n"
    "x: 0.45\ny: 0.0\nz: 0.73\nqx: 1.0\nqy: 0.0\nqz: 0.0\nqw: 0.0\n"
)


def _window(start_at: float, duration_s: float, sample) -> dict[str, Any]:
    """Sample counters at the window's start and end (wall clock shared by the processes)."""
    time.sleep(max(0.0, start_at - time.time()))
    first = sample()
    time.sleep(max(0.0, start_at + duration_s - time.time()))
    last = sample()
    return {key: last[key] - first[key] for key in first}


def _cpu() -> float:
    return time.process_time()


def _stop(rclpy, executor, spinner: threading.Thread, node) -> None:
    """Stop the spin thread before destroying anything (destroying under a running wait aborts),
    and shut the context down: Fast DDS then removes its shared-memory segments from /dev/shm."""
    executor.shutdown(timeout_sec=5.0)
    spinner.join(timeout=5.0)
    node.destroy_node()
    rclpy.try_shutdown()


def _publisher(width: int, height: int, rate_hz: float, start_at: float, duration_s: float) -> dict[str, Any]:
    import numpy as np
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    rclpy.init()
    node = rclpy.create_node("bench_camera")
    rng = np.random.default_rng(0)
    header = Header(frame_id=CAMERA_FRAME)
    color = Image(
        header=header,
        height=height,
        width=width,
        encoding="rgb8",
        step=width * 3,
        data=rng.integers(0, 255, (height, width, 3), dtype=np.uint8).tobytes(),
    )
    depth = Image(
        header=header,
        height=height,
        width=width,
        encoding="16UC1",
        step=width * 2,
        data=rng.integers(300, 2000, (height, width), dtype=np.uint16).tobytes(),
    )
    f = 0.8 * width
    info = CameraInfo(
        header=header,
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[f, 0.0, width / 2, 0.0, 0.0, f, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0],
    )
    pubs = [
        node.create_publisher(t, topic, qos_profile_sensor_data)
        for t, topic in ((Image, COLOR_TOPIC), (Image, DEPTH_TOPIC), (CameraInfo, INFO_TOPIC))
    ]
    counts = {"published_pairs": 0}
    period = 1.0 / rate_hz
    end = start_at + duration_s + 1.0
    result: dict[str, Any] = {}
    sampler = threading.Thread(target=lambda: result.update(_window(start_at, duration_s, lambda: dict(counts))))
    sampler.start()
    next_at = time.monotonic()
    while time.time() < end:  # deadline loop: a late frame does not shift the next one
        stamp = node.get_clock().now().to_msg()
        for msg, pub in zip((color, depth, info), pubs, strict=True):
            msg.header.stamp = stamp
            pub.publish(msg)
        counts["published_pairs"] += 1
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
    sampler.join()
    node.destroy_node()
    rclpy.try_shutdown()
    return result


def _node(start_at: float, duration_s: float) -> dict[str, Any]:
    import rclpy
    from rclpy.parameter import Parameter

    from vla_r1_ros.node import VlaR1Node, node_executor

    hand_eye = Path(tempfile.mkdtemp(prefix="vla_r1_bench_")) / "base_T_camera.yaml"
    hand_eye.write_text(HAND_EYE)
    rclpy.init()
    node = VlaR1Node(
        parameter_overrides=[
            Parameter("model.backend", value="openai"),
            Parameter("model.server_url", value="http://127.0.0.1:9"),
            Parameter("execution.planner", value="none"),
            Parameter("transforms.hand_eye_yaml", value=str(hand_eye)),
            Parameter("output.diagnostics_period_s", value=1.0),
        ]
    )
    executor = node_executor()  # the executor main() spins the node with
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    result = _window(
        start_at,
        duration_s,
        lambda: {
            "pairs": node.synced_pairs,
            "unpaired_colors": node.unpaired_colors,
            "images": node.received_images,
            "cpu_s": _cpu(),
        },
    )
    _stop(rclpy, executor, spinner, node)
    return result


def _bare(start_at: float, duration_s: float) -> dict[str, Any]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    rclpy.init()
    node = rclpy.create_node("bench_bare_subscriber")
    counts = {"color": 0, "depth": 0, "info": 0, "pairs": 0}
    stamps: dict[str, set] = {"color": set(), "depth": set()}

    def counter(key, other):
        def on(msg) -> None:  # counts, and pairs by identical stamps (the publisher stamps both alike)
            counts[key] += 1
            if other:
                stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
                stamps[key].add(stamp)
                counts["pairs"] += stamp in stamps[other]

        return on

    for key, other, msg_type, topic in (
        ("color", "depth", Image, COLOR_TOPIC),
        ("depth", "color", Image, DEPTH_TOPIC),
        ("info", None, CameraInfo, INFO_TOPIC),
    ):
        node.create_subscription(msg_type, topic, counter(key, other), qos_profile_sensor_data)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    result = _window(start_at, duration_s, lambda: {**counts, "cpu_s": _cpu()})
    _stop(rclpy, executor, spinner, node)
    return result


def _start_cost_s(command: list[str], env: dict, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - started)
    return best


def startup_hook_cost(repeats: int = 3) -> dict[str, float]:
    """What the ROS wheels' .pth hook (it re-executes the interpreter with LD_LIBRARY_PATH set) adds
    to every start of this environment's Python, `vla-r1` included: best of ``repeats``."""
    hooked = {k: v for k, v in os.environ.items() if k not in ("_ROS_WHEELS_BOOTSTRAP_COMPLETE",)}
    hooked.pop("LD_LIBRARY_PATH", None)
    unhooked = dict(hooked, _ROS_WHEELS_BOOTSTRAP_COMPLETE="1")  # the hook's own guard: it does nothing
    vla_r1 = str(Path(sys.executable).with_name("vla-r1"))
    out = {}
    for name, command in (("python_c_pass", [sys.executable, "-c", "pass"]), ("vla_r1_help", [vla_r1, "--help"])):
        with_hook = _start_cost_s(command, hooked, repeats)
        without = _start_cost_s(command, unhooked, repeats)
        out[f"{name}_s"] = round(with_hook, 4)
        out[f"{name}_without_hook_s"] = round(without, 4)
        out[f"{name}_hook_cost_s"] = round(with_hook - without, 4)
    return out


def shm_profile_path() -> Path:
    """The profile in the source tree, or in the installed package's share folder (colcon)."""
    if SHM_PROFILE.is_file():
        return SHM_PROFILE
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("vla_r1_ros")) / "config" / "fastdds_shm.xml"


def run_intake_benchmark(
    rate_hz: float = 30.0,
    duration_s: float = 10.0,
    warmup_s: float = 8.0,
    width: int = 640,
    height: int = 480,
    domain_id: int | None = None,
    transport: str = "default",
) -> dict[str, Any]:
    """Run the three processes and return the comparison (see the module doc). ``transport``:
    "default" = Fast DDS as configured in the environment (UDP loopback with the localhost range);
    "shm" = every process with config/fastdds_shm.xml (shared memory, large segments)."""
    if transport not in ("default", "shm"):
        raise ValueError(f"transport must be default or shm, got {transport!r}")
    env = dict(
        os.environ,
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_DOMAIN_ID=str(domain_id if domain_id is not None else 1 + os.getpid() % 100),
    )
    if transport == "shm":
        env["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(shm_profile_path())
    start_at = time.time() + warmup_s
    roles = {"publisher": ["publisher", str(width), str(height), str(rate_hz)], "node": ["node"], "bare": ["bare"]}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "vla_r1_cli.bench.ros_intake", *args, str(start_at), str(duration_s)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in roles.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=warmup_s + duration_s + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"bench {name} process failed (exit {proc.returncode}):\n{err[-3000:]}")
        results[name] = json.loads(out.strip().splitlines()[-1])
    published = results["publisher"]["published_pairs"]
    node, bare = results["node"], results["bare"]
    bare_pairs = bare["pairs"]
    return {
        "setup": {
            "rate_hz": rate_hz,
            "image": f"{width}x{height} rgb8 + 16UC1 aligned depth + camera_info",
            "transport": transport,
            "fastdds_profile": env.get("FASTRTPS_DEFAULT_PROFILES_FILE", ""),
            "window_s": duration_s,
            "warmup_s": warmup_s,
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "published": {"pairs": published, "pairs_per_s": round(published / duration_s, 2)},
        "node": {
            "synchronized_pairs": node["pairs"],
            "pairs_per_s": round(node["pairs"] / duration_s, 2),
            "fraction_of_published": round(node["pairs"] / published, 4) if published else None,
            "unpaired_colors": node["unpaired_colors"],
            "images_received": node["images"],
            "cpu_s": round(node["cpu_s"], 3),
            "cpu_percent": round(100 * node["cpu_s"] / duration_s, 1),
        },
        "bare_subscriber": {
            "synchronized_pairs": bare_pairs,
            "color_msgs": bare["color"],
            "depth_msgs": bare["depth"],
            "info_msgs": bare["info"],
            "pairs_per_s": round(bare_pairs / duration_s, 2),
            "fraction_of_published": round(bare_pairs / published, 4) if published else None,
            "cpu_s": round(bare["cpu_s"], 3),
            "cpu_percent": round(100 * bare["cpu_s"] / duration_s, 1),
        },
        "node_cpu_over_bare": round(node["cpu_s"] / bare["cpu_s"], 3) if bare["cpu_s"] > 0 else None,
        "targets": {"fraction_of_published_min": 0.95, "node_cpu_over_bare_max": 1.3},
    }


def _child(argv: list[str]) -> None:
    role, *rest = argv
    *args, start_at, duration_s = rest
    if role == "publisher":
        width, height, rate = args
        result = _publisher(int(width), int(height), float(rate), float(start_at), float(duration_s))
    elif role == "node":
        result = _node(float(start_at), float(duration_s))
    else:
        result = _bare(float(start_at), float(duration_s))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1:])
