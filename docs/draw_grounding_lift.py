"""Draw docs/grounding_lift.png: how grounding lifts trajectory waypoints off the surface they see.

The picture is computed, not sketched: a synthetic depth image (table at z = 0, a 5 cm box) seen
from a camera 1 m above, a 2D trajectory along base x, grounded by ``ground_trajectory``; the
side view (base x, z) shows the rays, surface points, lifted and resampled poses, and the descent.

    python docs/draw_grounding_lift.py [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from calibration import SE3, CameraModel
from vla_r1_model.actions import Trajectory
from vla_r1_robot.perception.frame import Frame
from vla_r1_robot.perception.grounding import GroundingConfig, ground_trajectory

WIDTH, HEIGHT = 640, 480
CAMERA = CameraModel(
    WIDTH, HEIGHT, np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]]), "plumb_bob", np.zeros(5)
)
# straight down from (0.5, 0, 1.0); image up = base +x
BASE_T_CAMERA = SE3(np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), (0.5, 0.0, 1.0))
BOX_X_M, BOX_TOP_M = (0.47, 0.55), 0.05


def depth_image() -> np.ndarray:
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    rays = CAMERA.pixels_to_rays(np.stack([u.ravel(), v.ravel()], axis=1))
    rays = np.concatenate([rays, np.ones((len(rays), 1))], axis=1) @ BASE_T_CAMERA.rotation.T
    origin = BASE_T_CAMERA.translation
    depth = (0.0 - origin[2]) / rays[:, 2]  # the table
    on_box = origin[0] + (BOX_TOP_M - origin[2]) / rays[:, 2] * rays[:, 0]
    box = (on_box >= BOX_X_M[0]) & (on_box <= BOX_X_M[1])
    depth[box] = (BOX_TOP_M - origin[2]) / rays[box, 2]
    return depth.reshape(HEIGHT, WIDTH).astype(np.float32)


def main(out: Path) -> None:
    config = GroundingConfig(
        hover_height_m=0.08, final_clearance_m=0.01, max_waypoint_spacing_m=0.03, tip_T_grasp=np.eye(4)
    )
    surface_x = np.array([0.36, 0.44, 0.51, 0.60, 0.66])
    pixels = CAMERA.project(BASE_T_CAMERA.inverse().apply(np.stack([surface_x, 0 * surface_x, 0 * surface_x], 1)))
    trajectory = Trajectory.from_pixels(pixels + 0.5, WIDTH, HEIGHT)  # on the table plane: the model's 2D points
    frame = Frame(np.zeros((HEIGHT, WIDTH, 3), np.uint8), depth_image(), CAMERA, 0.0)
    path = ground_trajectory(frame, trajectory, BASE_T_CAMERA, config)

    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=120)
    cam = BASE_T_CAMERA.translation
    ax.fill_between([0.28, 0.74], -0.03, 0.0, color="#d8cbb8", label="table (z = 0)")
    ax.add_patch(
        plt.Rectangle((BOX_X_M[0], 0.0), BOX_X_M[1] - BOX_X_M[0], BOX_TOP_M, color="#c0392b", alpha=0.6, label="object")
    )
    main_targets = [t for t in path.targets if t.role != "resampled"]
    for t in main_targets[:-1]:
        s = t.surface_point_base_m
        ax.plot([cam[0], s[0]], [cam[2], s[2]], color="0.6", lw=0.8, ls=":")
    ax.plot([], [], color="0.6", lw=0.8, ls=":", label="camera ray through a waypoint pixel")
    surf = np.array([t.surface_point_base_m for t in main_targets[:-1]])
    ax.scatter(surf[:, 0], surf[:, 2], marker="x", color="k", zorder=5, label="surface point (robust depth)")
    for s in surf:
        ax.annotate(
            "",
            xy=(s[0], s[2] + config.hover_height_m),
            xytext=(s[0], s[2]),
            arrowprops=dict(arrowstyle="->", color="#2471a3", lw=1),
        )
    points = path.grasp_points_base_m
    ax.plot(points[:, 0], points[:, 2], color="#2471a3", lw=1.2, zorder=4)
    resampled = np.array([t.grasp_point_base_m for t in path.targets if t.role == "resampled"])
    ax.scatter(
        resampled[:, 0],
        resampled[:, 2],
        s=10,
        color="#5dade2",
        zorder=5,
        label=f"resampled (spacing <= {config.max_waypoint_spacing_m * 100:.0f} cm)",
    )
    lifted = np.array([t.grasp_point_base_m for t in path.targets if t.role == "waypoint"])
    ax.scatter(
        lifted[:, 0],
        lifted[:, 2],
        s=36,
        color="#2471a3",
        zorder=6,
        label=f"waypoint = surface + hover {config.hover_height_m * 100:.0f} cm (base z)",
    )
    final = path.targets[-1].grasp_point_base_m
    ax.scatter(
        [final[0]],
        [final[2]],
        s=70,
        marker="*",
        color="#27ae60",
        zorder=7,
        label=f"target = last surface point + {config.final_clearance_m * 100:.0f} cm (vertical descent)",
    )
    ax.scatter([cam[0]], [min(cam[2], 0.2)], marker="v", s=60, color="0.3")
    ax.annotate("camera (1 m above the table)", (cam[0], 0.2), textcoords="offset points", xytext=(6, -3), fontsize=8)
    ax.set(
        xlabel="base x [m]",
        ylabel="base z [m]",
        xlim=(0.3, 0.72),
        ylim=(-0.03, 0.21),
        aspect="equal",
        title="Trajectory grounding: waypoints see the surface, the tool hovers above it",
    )
    ax.legend(loc="upper left", fontsize=7, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("grounding_lift.png"))
