"""report.html of a replay: each frame with its overlay, reasoning, 3D targets plot and timings."""

from __future__ import annotations

import html
import statistics
from pathlib import Path

import numpy as np


def plot_targets(positions_base_m: np.ndarray, kind: str, path: Path) -> None:
    """Top view (x, y) and side view (x, z) of the grasp points in the base frame, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, side) = plt.subplots(1, 2, figsize=(6.4, 2.8), dpi=90)
    for axis, (i, j, name) in zip((top, side), ((0, 1, "y"), (0, 2, "z")), strict=True):
        axis.plot(
            positions_base_m[:, i],
            positions_base_m[:, j],
            "-o" if kind == "path" else "o",
            color="tab:orange",
            ms=4,
            label="pre-grasp / waypoints",
        )
        axis.plot(positions_base_m[-1, i], positions_base_m[-1, j], "*", color="tab:red", ms=12, label="final target")
        axis.plot([0], [0], "ks", ms=6, label="base origin")
        axis.set_xlabel("x (m)")
        axis.set_ylabel(f"{name} (m)")
        axis.grid(alpha=0.3)
        axis.set_aspect("equal", adjustable="datalim")
    top.set_title("top view")
    side.set_title("side view")
    top.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _timing_table(timings_ms: dict[str, float]) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.2f}</td></tr>" for k, v in timings_ms.items())
    return f"<table class='t'><tr><th>stage</th><th>ms</th></tr>{rows}</table>"


def _frame_card(out_dir: Path, record: dict) -> str:
    plot = ""
    if record.get("frame_dir") is None:  # the bag could not give this frame: nothing to show but the error
        stamp = "?" if record.get("stamp_s") is None else f"{record['stamp_s']:.3f}"
        status = f"failed at {record['failed_stage']}: {record['error']}"
        return (
            f"<section class='fail'><h2>frame {record['index']} · t = {stamp} s</h2>"
            f"<p class='status'>{html.escape(status)}</p></section>"
        )
    frame_dir = out_dir / record["frame_dir"]
    if record.get("targets"):
        # Where the fingers go (the planner gets the tip link, offset by the tool): what a person checks.
        positions = np.asarray([t["grasp_point_base_m"] for t in record["targets"]["targets"]], dtype=float)
        plot_targets(positions, record["targets"]["kind"], frame_dir / "targets.png")
        plot = f"<img src='{record['frame_dir']}/targets.png' alt='3D targets'>"
    status = "ok" if record["ok"] else f"failed at {record['failed_stage']}: {record['error']}"
    plan = record.get("plan")
    plan_line = f"<p>plan: {plan['num_points']} points, {plan['duration_s']:.2f} s</p>" if plan else ""
    return (
        f"<section class='{'ok' if record['ok'] else 'fail'}'>"
        f"<h2>frame {record['index']} · t = {record['stamp_s']:.3f} s</h2>"
        f"<p class='status'>{html.escape(status)}</p>"
        f"<div class='row'><img src='{record['frame_dir']}/overlay.png' alt='overlay'>{plot}</div>"
        f"<details open><summary>reasoning</summary>"
        f"<pre>{html.escape(record.get('reasoning') or '(none)')}</pre></details>"
        f"<details><summary>raw answer</summary><pre>{html.escape(record.get('raw_text') or '')}</pre></details>"
        f"{plan_line}{_timing_table(record.get('timings_ms', {}))}</section>"
    )


def write_report(out_dir: Path, records: list[dict], instruction: str, task: str, bag_error: str | None = None) -> Path:
    stages: dict[str, list[float]] = {}
    for record in records:
        for stage, ms in record.get("timings_ms", {}).items():
            stages.setdefault(stage, []).append(ms)
    medians = {k: statistics.median(v) for k, v in stages.items()}
    succeeded = sum(r["ok"] for r in records)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>VLA-R1 replay</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1100px} section{border:1px solid #ccc;border-radius:6px;"
        "padding:1em;margin:1em 0} section.fail{border-color:#d33} .row{display:flex;gap:1em;flex-wrap:wrap}"
        ".row img{max-width:520px} pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em} "
        ".t td,.t th{padding:0 .8em}"
        ".status{font-weight:bold}</style></head><body>"
        f"<h1>VLA-R1 replay</h1><p><b>instruction:</b> {html.escape(instruction)} · <b>task:</b> {task}</p>"
        f"<p><b>frames:</b> {len(records)} · <b>succeeded:</b> {succeeded}</p>"
        + (f"<p class='status'>the bag broke after these frames: {html.escape(bag_error)}</p>" if bag_error else "")
        + f"<h3>median time per stage</h3>{_timing_table(medians)}"
        + "".join(_frame_card(out_dir, r) for r in records)
        + "</body></html>"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
