"""CoT data engine: a teacher model writes the four-step reasoning for ground-truth answers.

    vla-r1 train cot --teacher-url http://localhost:8000 --teacher-model Qwen2.5-VL-72B-Instruct \
        --data sharerobot_affordance.json --task affordance --out cot/affordance.jsonl

For each record the teacher (any OpenAI-compatible chat-completions server, e.g. vLLM) sees the
image, the training prompt and the correct answer, and writes ``<think>…</think> so, the answer
is <output>…</output>`` with the task's four steps:
- affordance: task parsing, scene understanding, region localization, feasibility check;
- trajectory: task parsing, object and gripper localization, scene constraints, trajectory logic.
An answer is kept only when its format is valid (``<think>`` block and a parseable ``<output>`` of
the right kind) and its own ``<output>`` scores at least ``threshold`` against the ground truth
with the GRPO reward (``training.rewards.compute_score``), and its reasoning passes the data
engine's checks (``training.cot_checks``: the structured steps in order, substance, no hedging, no
copied answer, coordinates and named image regions that agree with the answer); rejections are
counted by reason code (``CotStats.rejections_by_reason``). The kept item stores the teacher's
reasoning with the GROUND-TRUTH answer, in the VLA-CoT ShareGPT format (one JSON line each,
image paths relative to the output file). Rejected records go to ``OUT.rejected.jsonl`` with
the reason. Re-running resumes: ids already in either file are skipped (``retry_rejected``
re-asks the rejected ones); records that failed on a server error are retried on the next run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vla_r1_model.parsing import ParseError, extract_reasoning, parse_output

from .cot_checks import check_reasoning
from .data import VLARecord, _relative_image, record_to_sharegpt
from .rewards import compute_score

REASONING_STEPS: dict[str, tuple[str, ...]] = {
    "affordance": ("Task parsing", "Scene understanding", "Region localization", "Feasibility check"),
    "trajectory": ("Task parsing", "Object and gripper localization", "Scene constraints", "Trajectory logic"),
}
ANSWER_MEANING = {
    "affordance": "a box as JSON with its CENTER x, y and its width, height, all normalized to [0, 1] "
    "(x to the right, y downward, relative to the image width and height)",
    "trajectory": "the end-effector's 2D path as a JSON list of [x, y] points normalized to [0, 1] "
    "(x to the right, y downward), from the gripper's start to the target",
}


def teacher_system_prompt(task: str) -> str:
    steps = "\n".join(f"{i}. {name}: ..." for i, name in enumerate(REASONING_STEPS[task], start=1))
    return (
        "You write the reasoning that a robot vision-language-action model thinks before it answers. "
        f"You see the camera image, the instruction and the correct answer: {ANSWER_MEANING[task]}.\n"
        "Explain, step by step and grounded in what is visible in the image, how one arrives at that answer. "
        "Use exactly these four steps, each starting with its label:\n"
        f"{steps}\n"
        "Refer to places in the image in words and, where useful, with the normalized coordinates. "
        "Never say that the answer was given to you.\n"
        "Reply in exactly this form and nothing else:\n"
        "<think>1. ... 2. ... 3. ... 4. ...</think> so, the answer is <output>ANSWER</output>\n"
        "where ANSWER is the correct answer copied unchanged."
    )


def teacher_messages(record: VLARecord, image_url: str) -> list[dict]:
    return [
        {"role": "system", "content": teacher_system_prompt(record.task)},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"{record.prompt()}\n\nCorrect answer: {record.output_block()}"},
                {"type": "image_url", "image_url": {"url": image_url}},
            ],
        },
    ]


@dataclass(frozen=True)
class CotConfig:
    teacher_url: str
    teacher_model: str
    out: str
    threshold: float = 0.9  # minimum reward score of the teacher's own answer
    concurrency: int = 4
    attempts: int = 2  # teacher calls per record before it is rejected
    temperature: float = 0.7
    max_tokens: int = 1024
    timeout_s: float = 120.0
    max_retries: int = 2  # HTTP-level retries per call (server errors, timeouts)
    image_max_side: int = 0  # downscale images larger than this before sending (0: never)
    retry_rejected: bool = False
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.concurrency < 1 or self.attempts < 1:
            raise ValueError("concurrency and attempts must be >= 1")
        if self.max_tokens < 16 or self.temperature < 0 or self.image_max_side < 0:
            raise ValueError("max_tokens must be >= 16, temperature and image_max_side >= 0")

    @property
    def rejected_path(self) -> Path:
        out = Path(self.out)
        return out.with_name(out.stem + ".rejected.jsonl")


@dataclass
class CotStats:
    total: int = 0
    skipped: int = 0  # already done in an earlier run
    accepted: int = 0
    rejected: int = 0
    errors: int = 0  # server failures: retried on the next run
    teacher_calls: int = 0
    scores: list = field(default_factory=list)
    rejections_by_reason: dict = field(default_factory=dict)  # reason code -> records rejected for it

    def to_dict(self) -> dict:
        out = asdict(self)
        scores = out.pop("scores")
        out["mean_accepted_score"] = sum(scores) / len(scores) if scores else None
        return out


@dataclass(frozen=True)
class TeacherVerdict:
    accepted: bool
    text: str
    score: float
    reason: str
    code: str = ""  # stable reason code: format, answer_unusable, below_threshold, or a training.cot_checks code


def judge(record: VLARecord, text: str, threshold: float) -> TeacherVerdict:
    """Keep ``text`` only if its format is valid for the task, its answer scores ≥ threshold, and its
    reasoning passes the data engine's checks (``training.cot_checks``)."""
    result = compute_score(text, record.output_block())
    score = result["score"]
    if result["format"] != 1.0:
        return TeacherVerdict(
            False, text, score, "format invalid (needs <think>…</think> and a JSON <output>)", "format"
        )
    try:
        parse_output(text, record.task, out_of_range="reject")
    except ParseError as exc:
        return TeacherVerdict(False, text, score, f"answer unusable: {exc}", "answer_unusable")
    if score < threshold:
        return TeacherVerdict(False, text, score, f"score {score:.3f} below threshold {threshold}", "below_threshold")
    issue = check_reasoning(extract_reasoning(text), record.task, record.answer, record.instruction)
    if issue is not None:
        return TeacherVerdict(False, text, score, issue.message, issue.code)
    return TeacherVerdict(True, text, score, "")


def _done_ids(path: Path) -> set[str]:
    ids: set[str] = set()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                ids.add(str(json.loads(line)["id"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that record is redone
    return ids


def _image_url(record: VLARecord, base_dir: Path | None, max_side: int) -> str:
    from PIL import Image

    from vla_r1_model.backends.openai_backend import image_to_data_url

    with Image.open(record.resolved_image(base_dir)) as opened:
        image = opened.convert("RGB")
        if max_side and max(image.size) > max_side:
            image.thumbnail((max_side, max_side))
        return image_to_data_url(image)


def run_cot_engine(
    records: Sequence[VLARecord],
    config: CotConfig,
    base_dir: str | Path | None = None,
    client: Any = None,
    progress: bool = True,
    on_result: Callable[[VLARecord, TeacherVerdict | None], None] | None = None,
) -> CotStats:
    """Ask the teacher for every record not yet done; append kept items to ``config.out``."""
    from tqdm.auto import tqdm

    from vla_r1_model.backends.base import BackendError
    from vla_r1_model.backends.openai_backend import OpenAIChatClient

    if client is None:
        client = OpenAIChatClient(
            config.teacher_url,
            config.teacher_model,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            api_key=config.api_key,
        )
    out_path, rejected_path = Path(config.out), config.rejected_path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = _done_ids(out_path) | (set() if config.retry_rejected else _done_ids(rejected_path))
    base = Path(base_dir) if base_dir is not None else None
    stats = CotStats(total=len(records))
    todo = [r for r in records if r.id not in done]
    stats.skipped = stats.total - len(todo)
    calls_lock = threading.Lock()

    def ask(record: VLARecord) -> TeacherVerdict:
        messages = teacher_messages(record, _image_url(record, base, config.image_max_side))
        verdict = None
        for _ in range(config.attempts):
            with calls_lock:
                stats.teacher_calls += 1
            text = client.complete(messages, temperature=config.temperature, max_tokens=config.max_tokens)
            verdict = judge(record, text, config.threshold)
            if verdict.accepted:
                break
        return verdict  # type: ignore[return-value]

    with (
        out_path.open("a", encoding="utf-8") as kept,
        rejected_path.open("a", encoding="utf-8") as rejected,
        ThreadPoolExecutor(max_workers=config.concurrency) as pool,
        tqdm(total=len(todo), desc="teacher", unit="sample", disable=not progress) as bar,
    ):
        pending: dict[Future, VLARecord] = {}
        queue: Iterable[VLARecord] = iter(todo)

        def fill() -> None:
            for record in queue:
                pending[pool.submit(ask, record)] = record
                if len(pending) >= 2 * config.concurrency:
                    return

        fill()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                record = pending.pop(future)
                try:
                    verdict = future.result()
                except (BackendError, OSError) as exc:
                    stats.errors += 1
                    bar.write(f"{record.id}: teacher failed: {exc}")
                    verdict = None
                if verdict is not None and verdict.accepted:
                    reasoned = VLARecord(
                        record.id,
                        record.task,
                        record.image,
                        record.instruction,
                        record.answer,
                        reasoning=extract_reasoning(verdict.text),
                        source=record.source,
                        human=record.human,
                    )
                    item = record_to_sharegpt(reasoned, _relative_image(record, base, out_path.parent))
                    item["teacher_score"] = round(verdict.score, 6)
                    kept.write(json.dumps(item, ensure_ascii=False) + "\n")
                    kept.flush()
                    stats.accepted += 1
                    stats.scores.append(verdict.score)
                elif verdict is not None:
                    stats.rejections_by_reason[verdict.code] = stats.rejections_by_reason.get(verdict.code, 0) + 1
                    rejected.write(
                        json.dumps(
                            {
                                "id": record.id,
                                "reason_code": verdict.code,
                                "reason": verdict.reason,
                                "score": verdict.score,
                                "text": verdict.text[:2000],
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
                    rejected.flush()
                    stats.rejected += 1
                if on_result is not None:
                    on_result(record, verdict)
                bar.update(1)
                bar.set_postfix(kept=stats.accepted, rejected=stats.rejected, errors=stats.errors)
            fill()
    return stats
