"""Evaluation: run a Policy over a dataset and report the paper's table columns.

    vla-r1 eval --model ./vla-r1 --data val.jsonl --out report.json

Columns (ARCHITECTURE.md): IoU = affordance box IoU ×100; DFD, HD, RMSE = trajectory metrics on
the [0, 1000) grid (``training.metrics``); Avg = mean of DFD, HD and RMSE. Conventions:
- an affordance answer that cannot be parsed counts as IoU 0 (it found nothing);
- a trajectory answer that cannot be parsed has no distance: it is left out of DFD/HD/RMSE and
  counted in ``parse_failure_rate`` (reported next to the table, overall and per task);
- the reward score of every raw answer (``training.rewards.compute_score``) is reported too.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Sequence

from .data import VLARecord
from .metrics import PAPER_RESULTS, box_iou_percent, mean_or_nan, trajectory_metrics
from .rewards import compute_score


def evaluate_sample(policy: Any, record: VLARecord, base_dir: str | Path | None) -> dict[str, Any]:
    from vla_r1_model.policy import as_pil_image

    image = as_pil_image(record.resolved_image(base_dir))
    start = time.perf_counter()
    output = policy.predict(image, record.instruction, record.task)
    row: dict[str, Any] = {
        "id": record.id, "task": record.task, "instruction": record.instruction, "ground_truth": record.answer,
        "raw_text": output.raw_text, "parsed": output.prediction is not None, "error": output.error,
        "seconds": round(time.perf_counter() - start, 4),
        "reward": compute_score(output.raw_text, record.output_block())["score"],
    }
    if output.prediction is not None:
        action = output.prediction.action
        row["prediction"] = action.to_json()
        if record.task == "affordance":
            row["iou"] = box_iou_percent(action, record.action)
        else:
            metrics = trajectory_metrics(action, record.action)
            row.update({k: metrics[k] for k in ("dfd", "hd", "rmse", "avg")}, rmse_resampled=metrics["rmse_resampled"])
    elif record.task == "affordance":
        row["iou"] = 0.0
    return row


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def rows_of(task: str) -> list[dict]:
        return [r for r in rows if r["task"] == task]

    affordance, trajectory = rows_of("affordance"), rows_of("trajectory")
    parsed_traj = [r for r in trajectory if r["parsed"]]
    dfd = mean_or_nan(r["dfd"] for r in parsed_traj)
    hd = mean_or_nan(r["hd"] for r in parsed_traj)
    rmse = mean_or_nan(r["rmse"] for r in parsed_traj)
    table = {"IoU": mean_or_nan(r["iou"] for r in affordance), "DFD": dfd, "HD": hd, "RMSE": rmse,
             "Avg": (dfd + hd + rmse) / 3.0}
    failures = [r for r in rows if not r["parsed"]]

    def rate(group: list) -> float:
        return sum(not r["parsed"] for r in group) / len(group) if group else float("nan")

    return {
        "samples": len(rows),
        "affordance_samples": len(affordance),
        "trajectory_samples": len(trajectory),
        "parse_failures": len(failures),
        "parse_failure_rate": rate(list(rows)),
        "parse_failure_rate_by_task": {"affordance": rate(affordance), "trajectory": rate(trajectory)},
        "mean_reward": mean_or_nan(r["reward"] for r in rows),
        "table": table,
        "paper_vla_r1_3b": {split: {"IoU": v["iou"], "DFD": v["dfd"], "HD": v["hd"], "RMSE": v["rmse"], "Avg": v["avg"]}
                            for split, v in PAPER_RESULTS.items()},
    }


def format_table(summary: dict[str, Any]) -> str:
    """The table as Markdown: this run beside the paper's VLA-R1-3B rows."""
    columns = ("IoU", "DFD", "HD", "RMSE", "Avg")

    def cell(value: float) -> str:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"

    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines.append("| this run | " + " | ".join(cell(summary["table"][c]) for c in columns) + " |")
    for split, values in summary["paper_vla_r1_3b"].items():
        lines.append(f"| paper, {split.replace('_', '-')} | " + " | ".join(cell(values[c]) for c in columns) + " |")
    lines.append(f"\nparse failures: {summary['parse_failures']} of {summary['samples']} "
                 f"({100 * summary['parse_failure_rate']:.1f}%); mean reward {cell(summary['mean_reward'])}")
    return "\n".join(lines)


def evaluate(policy: Any, records: Sequence[VLARecord], base_dir: str | Path | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Per-sample rows and the summary (see the module docstring for the conventions)."""
    from tqdm.auto import tqdm

    rows = []
    for record in tqdm(records, desc="eval", unit="sample", disable=not progress):
        rows.append(evaluate_sample(policy, record, base_dir))
    return {**summarize(rows), "per_sample": rows}
