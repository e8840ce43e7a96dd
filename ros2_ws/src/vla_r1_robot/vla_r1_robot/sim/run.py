"""``vla-r1 sim eval`` as a library call: episodes, result files and the report, written safely.

Everything goes into a fresh staging folder beside ``out_dir`` and is renamed to ``out_dir`` only
when the run finished: a failed or interrupted run never replaces nor deletes an earlier result
(``out_dir`` must not exist yet; the staging folder of a failed run stays, named in the error).
Outputs: ``episodes.jsonl`` (one line per episode, with the stage and reason of every failure),
``summary.json`` and ``summary.md`` (success rate with a 95 % interval per condition and per shape),
``report.html`` with per-episode figures in ``episode_NNNNN/``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vla_r1_model.files import atomic_write_text
from vla_r1_model.validation import integer_at_least

from ..motion.planning import PlannerConfig
from ..motion.safety import SafetyConfig
from ..motion.task import TaskConfig
from ..perception.grounding import GroundingConfig
from .cell import CellConfig, SimCell
from .evaluation import EpisodeSpec, Evaluator, episode_specs, summarize, summary_markdown


@dataclass(frozen=True)
class EvalOptions:
    out_dir: Path
    episodes: int = 8
    seed: int = 0
    task: str = "affordance"
    box_noise_px: tuple[float, ...] = (0.0,)
    answer_source: str = "ground-truth"  # or "model"
    model_name: str | None = None
    report_episodes: int = 12  # episodes with figures in the report (failures beyond it are added, up to 40)
    video_episodes: int = 4  # of those, how many get a side-camera GIF
    progress: bool = True
    urdf: Path | None = None
    gl: str = "egl"
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    task_config: TaskConfig = field(default_factory=TaskConfig)

    def __post_init__(self) -> None:
        integer_at_least("episodes", self.episodes, 1)
        if self.task not in ("affordance", "trajectory"):
            raise ValueError(f"task must be affordance or trajectory, got {self.task!r}")
        if self.answer_source not in ("ground-truth", "model"):
            raise ValueError(f"answer source must be ground-truth or model, got {self.answer_source!r}")
        noise = tuple(float(v) for v in self.box_noise_px)
        if not noise or any(not v >= 0 for v in noise) or len(set(noise)) != len(noise):
            raise ValueError(f"box noise levels must be distinct numbers >= 0, got {self.box_noise_px}")
        object.__setattr__(self, "box_noise_px", noise)
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.report_episodes < 0 or self.video_episodes < 0:
            raise ValueError("report_episodes and video_episodes must be >= 0")


class OutputExistsError(FileExistsError):
    """The output folder exists: results are never overwritten."""


def check_out_dir(out_dir: Path) -> None:
    """Refuse before any work: ``out_dir`` must be new and its parent writable."""
    if out_dir.exists():
        raise OutputExistsError(f"{out_dir} exists: choose a new output folder (earlier results are never overwritten)")
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    if not parent.is_dir():
        raise OutputExistsError(f"{out_dir}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputExistsError(f"{out_dir}: folder {parent} is not writable")


def answer_source_line(options: EvalOptions) -> str:
    if options.answer_source == "ground-truth":
        return (
            "ground truth: the simulator's own 2D boxes (segmentation of the rendered frame) written in VLA-R1's "
            "output format; no model ran"
        )
    return f"model: {options.model_name or '(unnamed)'}, through vla_r1_model.Policy (prompt, generation, parser)"


def run_evaluation(
    options: EvalOptions, model_policy: Any = None, on_episode: Callable[[dict], None] | None = None
) -> dict[str, Any]:
    """Run every episode and write the outputs; returns the summary (with the paths written).

    ``model_policy``: a ``vla_r1_model.Policy`` for ``answer_source="model"``.
    """
    from tqdm import tqdm

    from vla_r1_model.policy import Policy

    from .policies import GroundTruthBackend
    from .report import write_episode_figures, write_report

    check_out_dir(options.out_dir)
    if options.answer_source == "model" and model_policy is None:
        raise ValueError("answer_source 'model' needs a Policy")
    staging = Path(
        tempfile.mkdtemp(prefix=f".{options.out_dir.name}.partial-", dir=options.out_dir.parent or Path("."))
    )
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700; a result folder gets the usual permissions
    started = time.time()
    cell = SimCell(CellConfig(urdf=options.urdf, gl=options.gl))
    try:
        policies: dict[float, Any] = {}

        def policy_for(spec: EpisodeSpec):
            if options.answer_source == "model":
                return model_policy
            if spec.box_noise_px not in policies:
                policies[spec.box_noise_px] = Policy(
                    GroundTruthBackend(evaluator.scene_truth, spec.box_noise_px, seed=options.seed)
                )
            return policies[spec.box_noise_px]

        evaluator = Evaluator(cell, policy_for, options.grounding, options.safety, options.planner, options.task_config)
        specs = episode_specs(options.episodes, options.seed, options.task, options.box_noise_px)
        records: list[dict] = []
        figures: dict[int, dict] = {}
        failures_with_figures = 0
        with open(staging / "episodes.jsonl", "w") as results:
            for spec in tqdm(specs, desc="sim eval", unit="episode", disable=not options.progress):
                detailed = spec.index < options.report_episodes
                episode = evaluator.run(
                    spec, video=spec.index < min(options.video_episodes, options.report_episodes), keep_frame=True
                )
                record = episode.to_dict()
                if detailed or (not episode.success and failures_with_figures < 40):
                    failures_with_figures += 0 if detailed else 1
                    figures[spec.index] = write_episode_figures(staging, episode, cell)
                    record["figures"] = figures[spec.index]
                results.write(json.dumps(record) + "\n")
                results.flush()
                records.append(record)
                if on_episode is not None:
                    on_episode(record)
        summary = summarize(records)
        summary.update(
            {
                "answer_source": answer_source_line(options),
                "model": options.model_name if options.answer_source == "model" else None,
                "task": options.task,
                "episodes_per_condition": options.episodes,
                "seed": options.seed,
                "robot": str(cell.urdf),
                "started_unix_s": round(started, 3),
                "wall_s": round(time.time() - started, 3),
            }
        )
        atomic_write_text(staging / "summary.json", json.dumps(summary, indent=2) + "\n")
        atomic_write_text(staging / "summary.md", summary_markdown(summary))
        write_report(staging, records, summary)
    except BaseException as error:
        cell.close()
        if not any(staging.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
        else:
            error.add_note(f"the episodes done so far are kept in {staging}")
        raise
    cell.close()
    check_out_dir(options.out_dir)  # someone may have created it meanwhile: never overwrite
    os.rename(staging, options.out_dir)
    summary["out_dir"] = str(options.out_dir)
    summary["report"] = str(options.out_dir / "report.html")
    summary["episodes_jsonl"] = str(options.out_dir / "episodes.jsonl")
    return summary
