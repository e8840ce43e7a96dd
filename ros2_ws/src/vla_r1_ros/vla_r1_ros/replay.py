"""Replay a recorded bag through the pipeline: results.jsonl, overlays, report.html, optional MCAP.

A frame that fails is recorded with its error and the replay goes on; a bag that cannot be
used at all raises BagError (the command turns it into exit code 2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from .frame import Frame
from .pipeline import Outcome, Pipeline


@dataclass(frozen=True)
class ReplayOptions:
    instruction: str
    task: str
    out_dir: Path
    dump_frames: bool = False
    out_bag: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        from vla_r1_model.actions import validate_task

        validate_task(self.task)
        if not self.instruction.strip():
            raise ValueError("instruction is empty")


@dataclass
class ReplaySummary:
    out_dir: Path
    frames: int = 0
    succeeded: int = 0
    failures_by_stage: dict[str, int] = field(default_factory=dict)
    results_path: Path | None = None
    report_path: Path | None = None
    out_bag: Path | None = None

    def as_dict(self) -> dict:
        return {"frames": self.frames, "succeeded": self.succeeded, "failures_by_stage": self.failures_by_stage,
                "results": str(self.results_path), "report": str(self.report_path),
                "out_bag": str(self.out_bag) if self.out_bag else None}


def depth_to_millimetre_png(depth_m: np.ndarray) -> Image.Image:
    """Aligned depth as a uint16 millimetre PNG (0 = invalid), the RealSense convention."""
    millimetres = np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0.0)
    return Image.fromarray(np.clip(millimetres, 0, 65535).astype(np.uint16))


def _save_frame_files(frame_dir: Path, frame: Frame, outcome: Outcome, options: ReplayOptions) -> Image.Image:
    from vla_r1_model.overlay import draw_overlay

    frame_dir.mkdir(parents=True, exist_ok=True)
    color = Image.fromarray(np.array(frame.color_rgb))  # bag arrays may be read-only views
    overlay = draw_overlay(color, outcome.prediction.action if outcome.prediction else None, options.instruction,
                           None if outcome.ok else f"{outcome.failed_stage}: {outcome.error}")
    overlay.save(frame_dir / "overlay.png")
    if options.dump_frames:
        color.save(frame_dir / "color.png")
        if frame.depth_m is not None:
            depth_to_millimetre_png(frame.depth_m).save(frame_dir / "depth_mm.png")
    return overlay


def replay_frames(frames: Iterable[Frame], pipeline: Pipeline, options: ReplayOptions, total: int | None = None) -> ReplaySummary:
    """Run the pipeline on each frame and write everything under ``options.out_dir``."""
    from tqdm import tqdm

    from .replay_report import write_report

    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    summary = ReplaySummary(out_dir=out, results_path=out / "results.jsonl")
    records: list[dict] = []
    bag_writer = None
    if options.out_bag is not None:
        from .replay_bag import ReplayBagWriter

        bag_writer = ReplayBagWriter(options.out_bag)
        summary.out_bag = options.out_bag
    try:
        with open(summary.results_path, "w") as results:
            for index, frame in enumerate(tqdm(frames, total=total, desc="replay", unit="frame", disable=not options.progress)):
                outcome = pipeline.run(frame, options.instruction, options.task)
                frame_dir = out / f"frame_{index:05d}"
                overlay = _save_frame_files(frame_dir, frame, outcome, options)
                record = {"index": index, "frame_dir": frame_dir.name, **outcome.to_dict((frame.width, frame.height))}
                results.write(json.dumps(record) + "\n")
                results.flush()  # a crash later must not lose what was already done
                records.append(record)
                summary.frames += 1
                if outcome.ok:
                    summary.succeeded += 1
                else:
                    summary.failures_by_stage[outcome.failed_stage] = summary.failures_by_stage.get(outcome.failed_stage, 0) + 1
                if bag_writer is not None:
                    bag_writer.write(frame, overlay, outcome)
    finally:
        if bag_writer is not None:
            bag_writer.close()
    summary.report_path = write_report(out, records, options.instruction, options.task)
    return summary
