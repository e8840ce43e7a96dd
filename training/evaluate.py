"""Evaluation: run a Policy over a dataset and report the paper's table columns.

    vla-r1 eval --model ./vla-r1 --data val.jsonl --out eval.json

Protocol (``PROTOCOL``, written into every report):
- Columns (docs/training.md): IoU = affordance box IoU ×100; DFD, HD, RMSE = trajectory distances on
  the [0, 1000) grid with one resampling rule for all three (``training.metrics``); Avg = mean of
  DFD, HD and RMSE.
- A sample FAILS when its answer cannot be used: no parseable ``<output>`` of the task's kind
  (a box for affordance, a trajectory for trajectory). Failures are never silently dropped:
  - "all samples" (``table``, the headline): a failure counts as IoU 0 and as 1000·√2 (the grid's
    diagonal, the worst possible distance) for DFD, HD and RMSE alike;
  - "parsed only" (``table_parsed``): failures are left out of every column;
  the failure rate (overall and per task) is reported beside them.
- The reward score of every raw answer (``training.rewards.compute_score``) is reported too.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vla_r1_model.actions import Affordance

from .data import VLARecord
from .metrics import (
    FAILURE_DISTANCE,
    FAILURE_IOU,
    PAPER_RESULTS,
    SCALE,
    box_iou_percent,
    mean_or_nan,
    trajectory_metrics,
)
from .rewards import compute_score

COLUMNS = ("IoU", "DFD", "HD", "RMSE", "Avg")
PROTOCOL: dict[str, Any] = {
    "name": "vla-r1-eval",
    "version": 2,
    "iou": "affordance box IoU x100 (corners clipped to [0, 1]; the GRPO reward's IoU)",
    "distances": f"DFD (discrete Frechet, Euclidean), HD (symmetric Hausdorff), RMSE (by index) on points x{SCALE:g}",
    "resampling": "when point counts differ, both trajectories are resampled uniformly by arc length to the larger "
    "count (ends kept) before DFD, HD and RMSE; equal counts are compared as given",
    "avg": "mean of DFD, HD and RMSE",
    "failure": "no parseable <output> of the task's kind (box for affordance, trajectory for trajectory)",
    "failure_values": {"IoU": FAILURE_IOU, "DFD": FAILURE_DISTANCE, "HD": FAILURE_DISTANCE, "RMSE": FAILURE_DISTANCE},
    "table": "all samples: failures count with failure_values",
    "table_parsed": "parsed samples only: failures left out",
}


def evaluate_sample(policy: Any, record: VLARecord, base_dir: str | Path | None) -> dict[str, Any]:
    from vla_r1_model.policy import as_pil_image

    image = as_pil_image(record.resolved_image(base_dir))
    start = time.perf_counter()
    output = policy.predict(image, record.instruction, record.task)
    row: dict[str, Any] = {
        "id": record.id,
        "task": record.task,
        "instruction": record.instruction,
        "ground_truth": record.answer,
        "raw_text": output.raw_text,
        "parsed": output.prediction is not None,
        "error": output.error,
        "seconds": round(time.perf_counter() - start, 4),
        "reward": compute_score(output.raw_text, record.output_block())["score"],
    }
    if output.prediction is not None:
        action = output.prediction.action
        row["prediction"] = action.to_json()
        if record.task == "affordance":
            truth = record.action
            # an affordance task's answer and reference are both boxes (parse_output and VLARecord check the task)
            assert isinstance(action, Affordance) and isinstance(truth, Affordance)
            row["iou"] = box_iou_percent(action, truth)
        else:
            metrics = trajectory_metrics(action, record.action)
            row.update({k: metrics[k] for k in ("dfd", "hd", "rmse", "avg")}, resampled=metrics["resampled"])
    return row


def _value(row: dict, key: str, count_failures: bool) -> float | None:
    if row["parsed"]:
        return row[key]
    if not count_failures:
        return None
    return PROTOCOL["failure_values"][{"iou": "IoU", "dfd": "DFD", "hd": "HD", "rmse": "RMSE"}[key]]


def table_of(rows: Sequence[dict[str, Any]], count_failures: bool) -> dict[str, float]:
    affordance = [r for r in rows if r["task"] == "affordance"]
    trajectory = [r for r in rows if r["task"] == "trajectory"]
    table = {"IoU": mean_or_nan(_value(r, "iou", count_failures) for r in affordance)}
    for column in ("DFD", "HD", "RMSE"):
        table[column] = mean_or_nan(_value(r, column.lower(), count_failures) for r in trajectory)
    table["Avg"] = (table["DFD"] + table["HD"] + table["RMSE"]) / 3.0
    return table


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    affordance = [r for r in rows if r["task"] == "affordance"]
    trajectory = [r for r in rows if r["task"] == "trajectory"]

    def rate(group: list) -> float:
        return sum(not r["parsed"] for r in group) / len(group) if group else float("nan")

    return {
        "protocol": PROTOCOL,
        "samples": len(rows),
        "affordance_samples": len(affordance),
        "trajectory_samples": len(trajectory),
        "parse_failures": sum(not r["parsed"] for r in rows),
        "parse_failure_rate": rate(list(rows)),
        "parse_failure_rate_by_task": {"affordance": rate(affordance), "trajectory": rate(trajectory)},
        "mean_reward": mean_or_nan(r["reward"] for r in rows),
        "table": table_of(rows, count_failures=True),
        "table_parsed": table_of(rows, count_failures=False),
        "paper_vla_r1_3b": {
            split: {"IoU": v["iou"], "DFD": v["dfd"], "HD": v["hd"], "RMSE": v["rmse"], "Avg": v["avg"]}
            for split, v in PAPER_RESULTS.items()
        },
    }


def decoding_settings(policy: Any) -> dict[str, Any]:
    """What decides the answers besides the model: decoding, prompt mode and out-of-range handling."""
    config = getattr(policy, "config", None)
    if config is None:
        return {}
    generation = getattr(config, "generation", None)
    settings: dict[str, Any] = {}
    if dataclasses.is_dataclass(generation) and not isinstance(generation, type):
        settings = dataclasses.asdict(generation)
    if not settings.get("do_sample", True):  # greedy: the sampling knobs are not used
        settings = {k: v for k, v in settings.items() if k not in ("temperature", "top_p")}
    out_of_range = getattr(config, "out_of_range", None)
    return {
        **settings,
        "no_think": getattr(config, "no_think", False),
        "out_of_range": getattr(out_of_range, "value", out_of_range),
        "prompt": "instruction + task form + newline, then the image (vla_r1_model.prompts.build_user_text)",
    }


def format_table(summary: dict[str, Any]) -> str:
    """The table as Markdown: this run (all samples, parsed only) beside the paper's VLA-R1-3B rows."""

    def cell(value: float) -> str:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"

    lines = ["| | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    lines.append("| this run, all samples | " + " | ".join(cell(summary["table"][c]) for c in COLUMNS) + " |")
    if "table_parsed" in summary:
        lines.append(
            "| this run, parsed only | " + " | ".join(cell(summary["table_parsed"][c]) for c in COLUMNS) + " |"
        )
    for split, values in summary["paper_vla_r1_3b"].items():
        lines.append(f"| paper, {split.replace('_', '-')} | " + " | ".join(cell(values[c]) for c in COLUMNS) + " |")
    rate = summary["parse_failure_rate"]
    lines.append(
        f"\nparse failures: {summary['parse_failures']} of {summary['samples']} "
        f"({cell(100 * rate) if rate is not None else '–'}%), counted as IoU 0 and distance "
        f"{FAILURE_DISTANCE:.2f} in 'all samples'; mean reward {cell(summary['mean_reward'])}"
    )
    return "\n".join(lines)


def evaluate(
    policy: Any, records: Sequence[VLARecord], base_dir: str | Path | None = None, progress: bool = True
) -> dict[str, Any]:
    """Per-sample rows and the summary (see the module docstring for the protocol)."""
    from tqdm.auto import tqdm

    if not records:
        raise ValueError("nothing to evaluate: no records")
    rows = []
    for record in tqdm(records, desc="eval", unit="sample", disable=not progress):
        rows.append(evaluate_sample(policy, record, base_dir))
    return {**summarize(rows), "decoding": decoding_settings(policy), "per_sample": rows}
