"""report.html of a simulated evaluation or demo. Every number comes from the run's records.

Per episode: the camera frame with the answer drawn, the reasoning, the 3D targets over the scene
(table, objects, camera, robot base; top and side views), the joint trajectory over time (commanded
and simulated, with the gripper opening and the task steps), an animated GIF from a side camera, the
outcome with its reason in full, and stage times relative to the episode start.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from vla_r1_model.files import atomic_write_text

from .demo_scene_layout import TABLE_CENTRE_XY_M, TABLE_HALF_SIZE_M


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plan_points(plan: dict | None) -> list[tuple[str, np.ndarray]]:
    points = []
    for step in (plan or {}).get("steps", []):
        if step["type"] == "arm":
            points.append((step["role"], np.asarray(step["grasp_points_base_m"], dtype=float)))
    return points


def plot_scene(record: dict, path: Path) -> None:
    """Top (x, y) and side (x, z) views of the table, objects, camera, robot base and the planned
    fingertip targets in the base frame."""
    plt = _plt()
    from matplotlib.patches import Circle, Rectangle

    fig, (top, side) = plt.subplots(1, 2, figsize=(8.0, 3.4), dpi=85)
    (tx, ty), (hx, hy, _) = TABLE_CENTRE_XY_M, TABLE_HALF_SIZE_M
    top.add_patch(Rectangle((tx - hx, ty - hy), 2 * hx, 2 * hy, color="#d8cbb5", zorder=0, label="table"))
    side.plot([tx - hx, tx + hx], [0, 0], color="#a08c6c", lw=4, zorder=0)
    for obj in record["scene"]["objects"]:
        x, y, _ = obj["position_base_m"]
        color = obj["rgba"][:3]
        size = obj["size_m"]
        radius = size.get("radius", max(size.get("x", 0), size.get("y", 0)) / 2)
        height = size.get("height", size.get("z", 2 * radius))
        if obj["shape"] == "box":
            patch = Rectangle((-size["x"] / 2, -size["y"] / 2), size["x"], size["y"], color=color, alpha=0.8)
            import matplotlib.transforms as mtransforms

            patch.set_transform(mtransforms.Affine2D().rotate_deg(obj["yaw_deg"]).translate(x, y) + top.transData)
            top.add_patch(patch)
        else:
            top.add_patch(Circle((x, y), radius, color=color, alpha=0.8))
        side.add_patch(Rectangle((x - radius, 0), 2 * radius, height, color=color, alpha=0.6))
    cx, cy, cz = record["scene"]["camera_position_base_m"]
    for axis, (a, b) in ((top, (cx, cy)), (side, (cx, cz))):
        axis.plot([a], [b], "v", color="black", ms=8, label="camera")
        axis.plot([0], [0], "ks", ms=8, label="robot base")
    colors = {
        "approach": "tab:orange",
        "lift": "tab:purple",
        "place": "tab:cyan",
        "retreat": "tab:gray",
        "path": "tab:orange",
    }
    for role, points in _plan_points(record.get("plan")):
        for axis, j in ((top, 1), (side, 2)):
            axis.plot(
                points[:, 0], points[:, j], "-o", ms=3, color=colors.get(role, "tab:orange"), label=f"{role} targets"
            )
    if record.get("object_top_base_m"):
        p = record["object_top_base_m"]
        top.plot([p[0]], [p[1]], "*", color="tab:red", ms=11, label="true top centre")
        side.plot([p[0]], [p[2]], "*", color="tab:red", ms=11)
    if record.get("grounded_point_base_m"):
        p = record["grounded_point_base_m"]
        top.plot([p[0]], [p[1]], "x", color="black", ms=8, label="grounded point")
        side.plot([p[0]], [p[2]], "x", color="black", ms=8)
    top.set(xlabel="x (m)", ylabel="y (m)", title="top view (base frame)", xlim=(-0.1, 1.0), ylim=(-0.5, 0.5))
    side.set(xlabel="x (m)", ylabel="z (m)", title="side view", xlim=(-0.1, 1.0), ylim=(-0.05, 0.85))
    for axis in (top, side):
        axis.set_aspect("equal", adjustable="box")
        axis.grid(alpha=0.3)
    handles, labels = top.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), fontsize=7, loc="lower center", ncol=4)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def plot_joints(execution, path: Path) -> None:
    """Commanded (dashed) and simulated joint positions over simulated time, the gripper opening
    below, the task steps shaded."""
    plt = _plt()
    t = np.asarray(execution.log_t_s)
    fig, (arm, grip) = plt.subplots(
        2, 1, figsize=(8.0, 4.0), dpi=85, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    q, qd = np.asarray(execution.log_q), np.asarray(execution.log_q_desired)
    for j in range(q.shape[1]):
        (line,) = arm.plot(t, q[:, j], lw=1.2, label=f"joint {j + 1}")
        arm.plot(t, qd[:, j], "--", lw=0.8, color=line.get_color())
    grip.plot(t, np.asarray(execution.log_width_m) * 1e3, color="black", lw=1.2)
    for k, segment in enumerate(execution.segments):
        for axis in (arm, grip):
            axis.axvspan(segment["start_s"], segment["end_s"], color="#eee" if k % 2 else "#ddf", zorder=0)
        arm.text(
            (segment["start_s"] + segment["end_s"]) / 2,
            1.0,
            segment["name"],
            transform=arm.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    if execution.stop is not None:
        for axis in (arm, grip):
            axis.axvline(execution.stop.time_s, color="tab:red", lw=1.5)
    arm.set_ylabel("position (rad)\nsolid: simulated, dashed: commanded", fontsize=8)
    grip.set_ylabel("gripper (mm)")
    grip.set_xlabel("simulated time since the episode start (s)")
    arm.legend(fontsize=6, ncol=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / max(fps, 1.0)), loop=0)


def write_episode_figures(out_dir: Path, episode, cell) -> dict[str, str]:
    """Figures of one episode in ``out_dir/episode_NNNNN``; returns their paths relative to out_dir."""
    from PIL import Image

    from vla_r1_model.overlay import draw_overlay

    name = f"episode_{episode.spec.index:05d}"
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, str] = {}
    if episode.frame_rgb is not None:
        overlay = draw_overlay(
            Image.fromarray(episode.frame_rgb),
            episode.action_value,
            episode.instruction,
            None if episode.success else f"{episode.failed_stage}: {episode.reason}",
        )
        overlay.save(folder / "camera.png")
        figures["camera"] = f"{name}/camera.png"
    plot_scene(episode.to_dict(), folder / "scene.png")
    figures["scene"] = f"{name}/scene.png"
    if episode.execution is not None and episode.execution.log_t_s:
        plot_joints(episode.execution, folder / "joints.png")
        figures["joints"] = f"{name}/joints.png"
        if episode.execution.video:
            save_gif(episode.execution.video, folder / "side.gif", 8.0)
            figures["video"] = f"{name}/side.gif"
    return figures


def _table(summary: dict) -> str:
    head = (
        "<tr><th>box noise (px)</th><th>shape</th><th>episodes</th><th>successes</th><th>success rate</th>"
        "<th>95 % interval</th><th>median grasp error (mm)</th><th>median s / episode</th>"
        "<th>failures by stage</th></tr>"
    )
    rows = []
    for condition in summary["conditions"]:
        for shape, g in [("all", condition)] + list(condition["by_shape"].items()):
            low, high = g["ci95"]
            failures = ", ".join(f"{k} {v}" for k, v in sorted(g["failures_by_stage"].items())) or "none"
            grasp_mm = g["median_grasp_error_mm"] if g["median_grasp_error_mm"] is not None else "–"
            rows.append(
                f"<tr class='{'all' if shape == 'all' else ''}'>"
                f"<td>{condition['box_noise_px']:g}</td><td>{shape}</td>"
                f"<td>{g['episodes']}</td><td>{g['successes']}</td><td>{100 * g['success_rate']:.1f} %</td>"
                f"<td>{100 * low:.1f}–{100 * high:.1f} %</td><td>{grasp_mm}</td>"
                f"<td>{g['median_episode_s']}</td><td>{html.escape(failures)}</td></tr>"
            )
    return f"<table class='t'>{head}{''.join(rows)}</table>"


def _times(record: dict) -> str:
    """Stage durations and their start relative to the episode start (ms), in pipeline order."""
    elapsed, cells = 0.0, []
    for stage, ms in record["timings_ms"].items():
        cells.append(f"<tr><td>{html.escape(stage)}</td><td>+{elapsed:.1f}</td><td>{ms:.1f}</td></tr>")
        elapsed += ms
    return (
        "<table class='t'><tr><th>stage</th><th>starts at (ms)</th><th>took (ms)</th></tr>"
        + "".join(cells)
        + f"</table><p>simulated time {record['sim_time_s']:.2f} s · wall time {record['wall_s'] * 1e3:.0f} ms</p>"
    )


def _card(record: dict) -> str:
    figures = record.get("figures", {})
    images = "".join(
        f"<figure><img src='{html.escape(figures[k])}' alt='{k}'><figcaption>{caption}</figcaption></figure>"
        for k, caption in (
            ("camera", "camera frame with the answer"),
            ("video", "side camera"),
            ("scene", "3D targets over the scene"),
            ("joints", "joint trajectory"),
        )
        if k in figures
    )
    outcome = "succeeded" if record["success"] else f"failed at {record['failed_stage']}"
    stop = record.get("stop")
    stop_line = (
        f"<p>stopped by <b>{html.escape(stop['detector'])}</b> at {stop['time_s']:.2f} s of simulated time</p>"
        if stop
        else ""
    )
    measures = []
    if record.get("grasp_error_mm") is not None:
        measures.append(f"grounded point {record['grasp_error_mm']:.1f} mm from the true top centre")
    if record.get("lifted_m") is not None:
        measures.append(f"object rose {record['lifted_m'] * 100:.1f} cm")
    if record.get("plan"):
        measures.append(
            "plan: "
            + " → ".join(f"{s['type']}:{s.get('action') or s.get('role')}" for s in record["plan"]["steps"])
            + f" ({record['plan']['duration_s']:.2f} s of arm motion)"
        )
    return (
        f"<section class='{'ok' if record['success'] else 'fail'}'><h2>episode {record['index']} · "
        f"{html.escape(record['instruction'])} · {record['shape']} · box noise {record['box_noise_px']:g} px</h2>"
        f"<p class='status'>{outcome}</p>"
        + (f"<pre class='reason'>{html.escape(record['reason'])}</pre>" if record.get("reason") else "")
        + stop_line
        + f"<p>{html.escape(' · '.join(measures))}</p><div class='row'>{images}</div>"
        f"<details open><summary>reasoning</summary>"
        f"<pre>{html.escape(record.get('reasoning') or '(none)')}</pre></details>"
        f"<details><summary>raw answer</summary><pre>{html.escape(record.get('raw_text') or '')}</pre></details>"
        f"<details><summary>times</summary>{_times(record)}</details></section>"
    )


def write_report(out_dir: Path, records: list[dict], summary: dict) -> Path:
    detailed = [r for r in records if r.get("figures")]
    overall = summary["overall"]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>VLA-R1 simulated cell</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1200px} section{border:1px solid #ccc;border-radius:6px;"
        "padding:1em;margin:1em 0} section.fail{border-color:#d33} .row{display:flex;gap:1em;flex-wrap:wrap}"
        "figure{margin:0} .row img{max-width:560px} pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}"
        ".t td,.t th{padding:0 .8em;text-align:left} tr.all{font-weight:bold} .status{font-weight:bold}"
        "pre.reason{background:#fee}</style></head><body>"
        "<h1>VLA-R1 closed loop in the simulated cell</h1>"
        f"<p><b>answers from:</b> {html.escape(summary['answer_source'])}</p>"
        f"<p><b>model:</b> {html.escape(summary['model'] or 'none')} · <b>task:</b> {summary['task']} · "
        f"<b>robot:</b> {html.escape(summary['robot'])} · <b>seed:</b> {summary['seed']}</p>"
        f"<p><b>{overall['successes']} of {overall['episodes']} episodes succeeded</b> · "
        f"run took {summary['wall_s']:.1f} s</p>"
        f"{_table(summary)}<p>{len(detailed)} of {len(records)} episodes shown below "
        "(all of them are in episodes.jsonl).</p>" + "".join(_card(r) for r in detailed) + "</body></html>"
    )
    path = out_dir / "report.html"
    atomic_write_text(path, page)
    return path


__all__ = ["plot_joints", "plot_scene", "save_gif", "write_episode_figures", "write_report"]
