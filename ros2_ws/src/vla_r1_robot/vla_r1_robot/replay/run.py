"""Replay a recorded bag through the pipeline: results.jsonl, overlays, report.html, optional MCAP.

A frame that fails (in the pipeline, or an image the bag cannot decode) is recorded with its error
and the replay goes on; a bag that cannot be used at all raises BagError (the command turns it into
exit code 2). The run is written into a new folder that replaces ``out_dir`` only at the end
(``vla_r1_model.files.staged_output_dir``): never a mixture of two runs, and a failed run never
destroys an earlier one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..bags.errors import BagError, FrameError
from ..perception.frame import Frame
from ..pipeline import Outcome, Pipeline


@dataclass(frozen=True)
class ReplayOptions:
    instruction: str
    task: str
    out_dir: Path
    dump_frames: bool = False
    out_bag: Path | None = None
    progress: bool = True
    overwrite: bool = False  # replace a non-empty out_dir / out_bag (only once the new run has succeeded)

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
    bag_error: str | None = None  # the bag broke part-way: the frames before it are recorded

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "succeeded": self.succeeded,
            "failures_by_stage": self.failures_by_stage,
            "results": str(self.results_path),
            "report": str(self.report_path),
            "out_bag": str(self.out_bag) if self.out_bag else None,
            "bag_error": self.bag_error,
        }


class ReplayAbandoned(BagError):
    """The bag broke part-way and an earlier run was in the output folder: that run is kept and the
    partial new one discarded (a failed run never replaces a result)."""


def depth_to_millimetre_png(depth_m: np.ndarray) -> Image.Image:
    """Aligned depth as a uint16 millimetre PNG (0 = invalid), the RealSense convention."""
    millimetres = np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0.0)
    return Image.fromarray(np.clip(millimetres, 0, 65535).astype(np.uint16))


def _save_frame_files(frame_dir: Path, frame: Frame, outcome: Outcome, options: ReplayOptions) -> Image.Image:
    from vla_r1_model.overlay import draw_overlay

    frame_dir.mkdir(parents=True, exist_ok=True)
    color = Image.fromarray(np.array(frame.color_rgb))  # bag arrays may be read-only views
    overlay = draw_overlay(
        color,
        outcome.prediction.action if outcome.prediction else None,
        options.instruction,
        None if outcome.ok else f"{outcome.failed_stage}: {outcome.error}",
    )
    overlay.save(frame_dir / "overlay.png")
    if options.dump_frames:
        color.save(frame_dir / "color.png")
        if frame.depth_m is not None:
            depth_to_millimetre_png(frame.depth_m).save(frame_dir / "depth_mm.png")
    return overlay


def _bad_frame_record(index: int, error: FrameError, options: ReplayOptions) -> dict:
    """results.jsonl line of a frame the bag could not give (same keys as a pipeline outcome)."""
    return {
        "index": index,
        "frame_dir": None,
        "stamp_s": error.stamp_s if math.isfinite(error.stamp_s) else None,
        "instruction": options.instruction,
        "task": options.task,
        "ok": False,
        "failed_stage": "bag",
        "error": str(error),
        "raw_text": None,
        "reasoning": None,
        "action": None,
        "targets": None,
        "plan": None,
        "violations": [],
        "timings_ms": {},
        "model_timings": None,
    }


def _inside(path: Path, folder: Path) -> Path | None:
    """``path`` relative to ``folder`` when it lies inside it (then it is written with the folder)."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return None
    return relative if relative.parts else Path(".")


def _had_results(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def replay_frames(
    frames: Iterable[Frame | FrameError], pipeline: Pipeline, options: ReplayOptions, total: int | None = None
) -> ReplaySummary:
    """Run the pipeline on each frame and write everything under ``options.out_dir``.

    ``frames`` may hold FrameErrors (``BagSource.frames(skip_bad_frames=True)``): each is recorded
    as a failure of stage "bag". A BagError while reading ends the run: what was done is written and
    ``summary.bag_error`` says why, unless ``out_dir`` held an earlier run, which is then kept
    (ReplayAbandoned). Raises ``vla_r1_model.files.OutputPathError`` for an unusable output path.
    """
    from vla_r1_model.files import OutputPathError, staged_output_dir

    bag_inside = _inside(options.out_bag, options.out_dir) if options.out_bag is not None else None
    if bag_inside == Path("."):
        raise OutputPathError(f"--out-bag {options.out_bag} is the output folder itself; name a folder of its own")
    earlier = _had_results(options.out_dir) or (
        options.out_bag is not None and bag_inside is None and _had_results(options.out_bag)
    )
    with contextlib.ExitStack() as stack:
        staging = stack.enter_context(staged_output_dir(options.out_dir, overwrite=options.overwrite))
        bag_path = None
        if bag_inside is not None:
            bag_path = staging / bag_inside
            bag_path.parent.mkdir(parents=True, exist_ok=True)
        elif options.out_bag is not None:
            bag_path = stack.enter_context(
                staged_output_dir(options.out_bag, overwrite=options.overwrite, create=False, what="--out-bag folder")
            )
        summary = _replay_into(staging, bag_path, frames, pipeline, options, total)
        if summary.bag_error is not None and earlier:
            raise ReplayAbandoned(
                options.out_dir,
                f"the bag broke after {summary.frames} frame(s) ({summary.bag_error}); "
                "the earlier run in this folder (and --out-bag) is kept",
            )
    summary.out_dir = options.out_dir
    summary.results_path = options.out_dir / "results.jsonl"
    summary.report_path = options.out_dir / "report.html"
    summary.out_bag = options.out_bag
    return summary


def _replay_into(
    out: Path,
    bag_path: Path | None,
    frames: Iterable[Frame | FrameError],
    pipeline: Pipeline,
    options: ReplayOptions,
    total: int | None,
) -> ReplaySummary:
    from tqdm import tqdm

    from .report import write_report

    results_path = out / "results.jsonl"
    summary = ReplaySummary(out_dir=out, results_path=results_path)
    records: list[dict] = []
    bag_writer = None
    if bag_path is not None:
        from .bag_output import ReplayBagWriter

        bag_writer = ReplayBagWriter(bag_path)
    try:
        with open(results_path, "w") as results:
            try:
                for index, item in enumerate(
                    tqdm(frames, total=total, desc="replay", unit="frame", disable=not options.progress)
                ):
                    if isinstance(item, FrameError):
                        record, outcome, overlay = _bad_frame_record(index, item, options), None, None
                    else:
                        outcome = pipeline.run(item, options.instruction, options.task)
                        frame_dir = out / f"frame_{index:05d}"
                        overlay = _save_frame_files(frame_dir, item, outcome, options)
                        record = {
                            "index": index,
                            "frame_dir": frame_dir.name,
                            **outcome.to_dict((item.width, item.height)),
                        }
                    results.write(json.dumps(record) + "\n")
                    results.flush()
                    records.append(record)
                    summary.frames += 1
                    if record["ok"]:
                        summary.succeeded += 1
                    else:
                        stage = record["failed_stage"]
                        summary.failures_by_stage[stage] = summary.failures_by_stage.get(stage, 0) + 1
                    if (
                        bag_writer is not None
                        and isinstance(item, Frame)
                        and overlay is not None
                        and outcome is not None
                    ):
                        bag_writer.write(item, overlay, outcome)
            except BagError as error:  # the bag broke part-way: keep what was done, say where it stopped
                summary.bag_error = str(error)
    finally:
        if bag_writer is not None:
            bag_writer.close()
    summary.report_path = write_report(out, records, options.instruction, options.task, bag_error=summary.bag_error)
    return summary
