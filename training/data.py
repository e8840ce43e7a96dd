"""Training data: ShareRobot -> VLA-R1 records, VLA-CoT ShareGPT files <-> Hugging Face datasets.

Formats
- ShareRobot (input): JSON list of records in PIXELS. Affordance ``{"id", "meta_data":
  {"original_width", "original_height", "original_dataset"}, "instruction", "affordance":
  {"x", "y", "width", "height"}}`` with (x, y) the TOP-LEFT corner; trajectory the same with
  ``"points": [[x, y], ...]``. The image is ``record["image"]`` when present, else
  ``image_template.format(id=..., dataset=...)`` (default ``"{id}"``, as ShareRobot's own
  visualizer joins ``img_dir`` and the id).
- VLA-R1 record (``VLARecord``): one task, one image path, the instruction, the NORMALIZED answer
  (center box or points, 6 decimals), optional four-step reasoning.
- VLA-CoT ShareGPT (JSON list or JSONL): ``{"id", "image", "task", "conversations": [{"from":
  "human", "value": <prompt form><image>}, {"from": "gpt", "value": "<think>…</think> so, the
  answer is <output>…</output>"}]}``. Image paths are relative to the data file's folder.
- Hugging Face dataset (what the trainers read): columns ``id, task, instruction, images`` (a list
  of one image), ``prompt`` (the user turn: the human value split at <image> as verl does, byte for byte;
  built turns are ``vla_r1_model.prompts.build_messages``: prompt, newline, image), ``completion``
  (the assistant turn) and ``ground_truth`` (the assistant text, whose ``<output>`` block the GRPO
  reward compares against).

Every converter validates each record and reports the bad ones (index, id, reason) instead of
silently dropping them: ``Conversion.bad`` and ``Conversion.summary()``.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vla_r1_model.actions import ActionError, Affordance, OutOfRange, Trajectory, validate_task
from vla_r1_model.files import atomic_output
from vla_r1_model.parsing import ParseError, extract_reasoning, parse_output
from vla_r1_model.prompts import (
    AFFORDANCE_PROMPT_SUFFIX,
    PROMPT_IMAGE_SEPARATOR,
    TRAJECTORY_PROMPT_SUFFIX,
    build_prompt,
)

IMAGE_TOKEN = "<image>"
ANSWER_LEAD = "so, the answer is"
PIXEL_TOLERANCE = 1.0  # annotations may overshoot the image border by this much; they are clipped


class RecordError(ValueError):
    """One record is unusable; the message says why."""


@dataclass(frozen=True)
class VLARecord:
    """One normalized training example."""

    id: str
    task: str
    image: str  # as given: absolute, or relative to the folder of the file it came from
    instruction: str
    answer: Any  # {"x", "y", "width", "height"} (center, normalized) or [[x, y], ...] (normalized)
    reasoning: str = ""
    image_width: int | None = None
    image_height: int | None = None
    source: str = ""
    human: str = ""  # the human turn exactly as imported (VLA-CoT), with its <image> token; "" = built

    def __post_init__(self) -> None:
        validate_task(self.task)
        if not str(self.instruction).strip():
            raise RecordError("instruction is empty")
        if not str(self.image).strip():
            raise RecordError("image path is empty")
        action = answer_action(self.answer, self.task)  # raises RecordError
        object.__setattr__(self, "answer", action.to_json())

    @property
    def action(self) -> Affordance | Trajectory:
        return answer_action(self.answer, self.task)

    def prompt(self) -> str:
        return build_prompt(self.instruction, self.task)

    def human_turn(self) -> str:
        """The ShareGPT human value: as imported, byte for byte, or the training form
        ``prompt + "\n" + "<image>"`` (the reference's VLA-CoT layout)."""
        return self.human or self.prompt() + PROMPT_IMAGE_SEPARATOR + IMAGE_TOKEN

    def user_content(self) -> list[dict]:
        """The user turn's parts as the reference's loaders build them from the human value: the text
        split at each <image> (verl ``_build_messages``), so imported prompts reach the model unchanged."""
        return split_human_turn(self.human_turn())

    def output_block(self) -> str:
        return f"<output>{json.dumps(self.answer)}</output>"

    def answer_text(self) -> str:
        """The assistant's text: ``<think>reasoning</think> so, the answer is <output>…</output>``."""
        think = f"<think>{self.reasoning.strip()}</think> " if self.reasoning.strip() else ""
        return f"{think}{ANSWER_LEAD} {self.output_block()}"

    def resolved_image(self, base_dir: str | Path | None) -> Path:
        path = Path(self.image).expanduser()
        return path if path.is_absolute() or base_dir is None else Path(base_dir) / path

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def answer_action(answer: Any, task: str) -> Affordance | Trajectory:
    """Validate a normalized answer for ``task`` (values outside [0, 1] are rejected)."""
    text = f"<output>{json.dumps(answer)}</output>"
    try:
        return parse_output(text, task, out_of_range=OutOfRange.REJECT).action
    except (ParseError, TypeError, ValueError) as exc:
        raise RecordError(f"bad {task} answer: {exc}") from None


@dataclass
class BadRecord:
    index: int
    id: str
    reason: str


@dataclass
class Conversion:
    """The converted records and the ones that were rejected, with reasons."""

    records: list[VLARecord] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)

    def extend(self, other: Conversion) -> None:
        self.records.extend(other.records)
        self.bad.extend(other.bad)

    def summary(self) -> str:
        lines = [f"{len(self.records)} record(s) converted, {len(self.bad)} rejected"]
        lines += [f"  record {b.index} (id {b.id}): {b.reason}" for b in self.bad[:50]]
        if len(self.bad) > 50:
            lines.append(f"  … and {len(self.bad) - 50} more")
        return "\n".join(lines)

    def report(self) -> dict:
        return {"converted": len(self.records), "rejected": len(self.bad), "bad": [asdict(b) for b in self.bad]}


# ----------------------------------------------------------------------------- ShareRobot
def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise RecordError(f"{name} is not finite")
    return float(value)


def _image_size(record: dict) -> tuple[int, int]:
    meta = record.get("meta_data")
    if not isinstance(meta, dict):
        raise RecordError("meta_data is missing")
    size = []
    for name in ("original_width", "original_height"):
        value = meta.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or int(value) != value:
            raise RecordError(f"meta_data.{name} must be a positive integer, got {value!r}")
        size.append(int(value))
    return size[0], size[1]


def _inside(value: float, limit: float, name: str) -> float:
    if value < -PIXEL_TOLERANCE or value > limit + PIXEL_TOLERANCE:
        raise RecordError(f"{name}={value:.2f} px is outside the image (0..{limit:g})")
    return min(max(value, 0.0), float(limit))


def sharerobot_affordance(record: dict, image_template: str = "{id}") -> VLARecord:
    """A ShareRobot affordance record (PIXELS, TOP-LEFT box) -> VLA-R1 record (normalized CENTER box)."""
    width, height = _image_size(record)
    box = record.get("affordance")
    if not isinstance(box, dict):
        raise RecordError("affordance box is missing")
    left, top, box_w, box_h = (_number(box.get(k), f"affordance.{k}") for k in ("x", "y", "width", "height"))
    if box_w <= 0 or box_h <= 0:
        raise RecordError(f"affordance box has non-positive size {box_w:g}x{box_h:g}")
    x1, y1 = _inside(left, width, "box left"), _inside(top, height, "box top")
    x2, y2 = _inside(left + box_w, width, "box right"), _inside(top + box_h, height, "box bottom")
    action = Affordance.from_sharerobot([x1, y1, x2 - x1, y2 - y1], width, height)
    return _record(record, "affordance", action.to_json(), width, height, image_template)


def sharerobot_trajectory(record: dict, image_template: str = "{id}") -> VLARecord:
    """A ShareRobot trajectory record (PIXEL points) -> VLA-R1 record (normalized points)."""
    width, height = _image_size(record)
    points = record.get("points")
    if not isinstance(points, list) or len(points) < 2:
        raise RecordError(f"trajectory needs a list of at least 2 points, got {points!r:.60}")
    pixels = []
    for i, point in enumerate(points):
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise RecordError(f"point {i} must be [x, y], got {point!r}")
        x = _inside(_number(point[0], f"point {i} x"), width, f"point {i} x")
        y = _inside(_number(point[1], f"point {i} y"), height, f"point {i} y")
        pixels.append((x, y))
    action = Trajectory.from_pixels(pixels, width, height)
    return _record(record, "trajectory", action.to_json(), width, height, image_template)


def _record(record: dict, task: str, answer: Any, width: int, height: int, image_template: str) -> VLARecord:
    if "id" not in record:
        raise RecordError("id is missing")
    instruction = record.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise RecordError("instruction is missing or empty")
    dataset = (record.get("meta_data") or {}).get("original_dataset", "")
    image = record.get("image")
    if isinstance(image, list):
        image = image[0] if len(image) == 1 else None
    if not image:
        try:
            image = image_template.format(id=record["id"], dataset=dataset, task=task)
        except (KeyError, IndexError) as exc:
            raise ValueError(f"image template {image_template!r} uses an unknown field {exc}") from None
        check_inside_image_folder(str(image))
    return VLARecord(
        id=f"sharerobot-{task}-{record['id']}",
        task=task,
        image=str(image),
        instruction=instruction.strip(),
        answer=answer,
        image_width=width,
        image_height=height,
        source=f"sharerobot/{dataset}" if dataset else "sharerobot",
    )


def check_inside_image_folder(image: str) -> None:
    """An image path built from a record's fields must stay inside the image folder: relative, no ``..``
    (an id such as ``../../etc/passwd`` would otherwise name any file on the machine)."""
    path = Path(image)
    if path.is_absolute() or image.startswith("~") or ".." in path.parts or "\\" in image:
        raise RecordError(f"image path {image!r} built from the record leaves the image folder")


SHAREROBOT_CONVERTERS = {"affordance": sharerobot_affordance, "trajectory": sharerobot_trajectory}


def convert_sharerobot(records: Iterable[Any], task: str, image_template: str = "{id}") -> Conversion:
    """Convert ShareRobot records of one task; every bad record is reported with its reason."""
    convert = SHAREROBOT_CONVERTERS[validate_task(task)]
    out = Conversion()
    for index, raw in enumerate(records):
        if isinstance(raw, BadLine):
            out.bad.append(raw.as_bad_record(index))
            continue
        record_id = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
        try:
            if not isinstance(raw, dict):
                raise RecordError(f"a record must be a JSON object, got {type(raw).__name__}")
            out.records.append(convert(raw, image_template))
        except (RecordError, ActionError) as exc:
            out.bad.append(BadRecord(index, record_id, str(exc)))
    return out


def load_sharerobot(path: str | Path, task: str | None = None, image_template: str = "{id}") -> Conversion:
    """A ShareRobot JSON file: a list of one task's records (``task`` required), or an object with
    ``"affordance"`` and/or ``"trajectory"`` lists (other keys such as ``planning`` are ignored)."""
    data = _read_json_or_jsonl(path)
    out = Conversion()
    if isinstance(data, dict):
        tasks = [t for t in ("affordance", "trajectory") if t in data and (task is None or t == task)]
        if not tasks:
            raise ValueError(f"{path} has no 'affordance' or 'trajectory' list")
        for t in tasks:
            out.extend(convert_sharerobot(data[t], t, image_template))
        return out
    if task is None:
        raise ValueError(f"{path} is a plain list of records: say which task they are (--task)")
    return convert_sharerobot(data, task, image_template)


# ----------------------------------------------------------------------------- VLA-CoT ShareGPT
_SUFFIXES = {"affordance": AFFORDANCE_PROMPT_SUFFIX, "trajectory": TRAJECTORY_PROMPT_SUFFIX}
_IMAGE_TOKEN_RE = re.compile(r"\s*<image>\s*", re.IGNORECASE)


def split_prompt(human: str) -> tuple[str, str | None]:
    """(instruction, task or None) from a human turn: the image token removed, the form detected."""
    text = _IMAGE_TOKEN_RE.sub(" ", human).strip()
    for task, suffix in _SUFFIXES.items():
        position = text.find(suffix.strip())
        if position != -1:
            return text[:position].strip(), task
    return text, None


def split_human_turn(human: str) -> list[dict]:
    """``"text<image>"`` -> ``[{"type": "text", "text": "text"}, {"type": "image"}]``: segments in order,
    empty ones dropped, text kept byte for byte (verl's rule for ShareGPT prompts)."""
    parts = [segment for segment in re.split(f"({re.escape(IMAGE_TOKEN)})", human) if segment != ""]
    content = [{"type": "image"} if part == IMAGE_TOKEN else {"type": "text", "text": part} for part in parts]
    if sum(part["type"] == "image" for part in content) != 1:
        raise RecordError(f"the human turn must hold exactly one {IMAGE_TOKEN}, got {human!r:.120}")
    return content


def record_to_sharegpt(record: VLARecord, image: str | None = None) -> dict:
    return {
        "id": record.id,
        "task": record.task,
        "image": image if image is not None else record.image,
        "conversations": [
            {"from": "human", "value": record.human_turn()},
            {"from": "gpt", "value": record.answer_text()},
        ],
    }


def sharegpt_to_record(item: Any, index: int = 0) -> VLARecord:
    """A VLA-CoT ShareGPT item -> VLA-R1 record; the task comes from ``task`` or the prompt form,
    the answer and reasoning from the last gpt turn."""
    if not isinstance(item, dict):
        raise RecordError(f"an item must be a JSON object, got {type(item).__name__}")
    image = item.get("image", item.get("images"))
    if isinstance(image, list):
        if len(image) != 1:
            raise RecordError(f"exactly one image per item is supported, got {len(image)}")
        image = image[0]
    if not isinstance(image, str) or not image:
        raise RecordError("image is missing")
    conversations = item.get("conversations")
    if not isinstance(conversations, list):
        raise RecordError("conversations is missing")
    human = next((m.get("value") for m in conversations if isinstance(m, dict) and m.get("from") == "human"), None)
    gpt = next(
        (m.get("value") for m in reversed(conversations) if isinstance(m, dict) and m.get("from") == "gpt"), None
    )
    if not isinstance(human, str) or not isinstance(gpt, str):
        raise RecordError("conversations need a human and a gpt turn with string values")
    instruction, prompt_task = split_prompt(human)
    task = item.get("task") or prompt_task
    if task is None:
        raise RecordError("cannot tell the task: no 'task' field and no VLA-R1 prompt form in the human turn")
    if prompt_task is not None and prompt_task != task:
        raise RecordError(f"'task' says {task} but the prompt form is the {prompt_task} one")
    try:
        action = parse_output(gpt, task, out_of_range=OutOfRange.REJECT).action
    except ParseError as exc:
        raise RecordError(f"gpt answer: {exc}") from None
    split_human_turn(human)  # exactly one <image>
    return VLARecord(
        id=str(item.get("id", index)),
        task=task,
        image=image,
        instruction=instruction,
        answer=action.to_json(),
        reasoning=extract_reasoning(gpt),
        source=str(item.get("source", "")),
        human=human,
    )


def load_sharegpt(path: str | Path) -> Conversion:
    """Read a VLA-CoT ShareGPT file (JSON list or JSONL), validating every item."""
    out = Conversion()
    for index, item in enumerate(_read_items(path)):
        if isinstance(item, BadLine):
            out.bad.append(item.as_bad_record(index))
            continue
        try:
            out.records.append(sharegpt_to_record(item, index))
        except (RecordError, ActionError, ValueError) as exc:
            item_id = str(item.get("id", index)) if isinstance(item, dict) else str(index)
            out.bad.append(BadRecord(index, item_id, str(exc)))
    return out


def write_sharegpt(records: Sequence[VLARecord], path: str | Path, source_dir: str | Path | None = None) -> Path:
    """Write records as VLA-CoT ShareGPT (``.jsonl`` -> one item per line, else a JSON list).
    Relative image paths (relative to ``source_dir``) are rewritten relative to ``path``'s folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [record_to_sharegpt(r, _relative_image(r, source_dir, path.parent)) for r in records]
    with atomic_output(path) as handle:
        if path.suffix == ".jsonl":
            for item in items:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        else:
            json.dump(items, handle, ensure_ascii=False, indent=1)
    return path


def write_records(records: Sequence[VLARecord], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    return path


def _relative_image(record: VLARecord, source_dir: str | Path | None, target_dir: Path) -> str:
    if source_dir is None and not Path(record.image).is_absolute():
        return record.image
    absolute = record.resolved_image(source_dir).resolve()
    try:
        return os.path.relpath(absolute, target_dir.resolve())
    except ValueError:  # another drive on Windows
        return str(absolute)


def drop_missing_images(conversion: Conversion, base_dir: str | Path | None) -> int:
    """Move records whose image file does not exist (under ``base_dir``) to ``conversion.bad``."""
    kept = []
    missing = 0
    for index, record in enumerate(conversion.records):
        path = record.resolved_image(base_dir)
        if path.is_file():
            kept.append(record)
        else:
            missing += 1
            conversion.bad.append(BadRecord(index, record.id, f"image not found: {path}"))
    conversion.records = kept
    return missing


# ----------------------------------------------------------------------------- splits
def train_val_split(records: Sequence[VLARecord], val_fraction: float, seed: int = 0) -> tuple[list, list]:
    """Deterministic split, stratified by task (each task keeps at least one training record)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = random.Random(seed)
    train, val = [], []
    for task in sorted({r.task for r in records}):
        group = [r for r in records if r.task == task]
        rng.shuffle(group)
        n_val = min(len(group) - 1, round(len(group) * val_fraction)) if val_fraction > 0 else 0
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return train, val


# ----------------------------------------------------------------------------- Hugging Face datasets
def to_hf_dataset(records: Sequence[VLARecord], base_dir: str | Path | None = None, check_images: bool = True):
    """Records -> ``datasets.Dataset`` in the prompt/completion form both TRL trainers read.
    Image paths are resolved relative to ``base_dir`` (the data file's folder)."""
    from datasets import Dataset, Image, List

    columns: dict[str, list] = {
        k: [] for k in ("id", "task", "instruction", "images", "prompt", "completion", "ground_truth")
    }
    for record in records:
        image_path = record.resolved_image(base_dir)
        if check_images and not image_path.is_file():
            raise FileNotFoundError(f"image of record {record.id} not found: {image_path}")
        columns["id"].append(record.id)
        columns["task"].append(record.task)
        columns["instruction"].append(record.instruction)
        columns["images"].append([str(image_path)])
        columns["prompt"].append([{"role": "user", "content": record.user_content()}])
        columns["completion"].append(
            [{"role": "assistant", "content": [{"type": "text", "text": record.answer_text()}]}]
        )
        columns["ground_truth"].append(record.answer_text())
    return Dataset.from_dict(columns).cast_column("images", List(Image()))


def prompt_token_count(processor, prompt: list[dict], images: Sequence[Any]) -> int:
    """Tokens of a prompt as the model sees it: chat template with the generation prompt, each image
    placeholder expanded to its image tokens (the count the processor gives, without processing pixels)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    clean = [
        {**message, "content": [{k: v for k, v in part.items() if v is not None} for part in message["content"]]}
        if isinstance(message.get("content"), list)
        else message
        for message in prompt
    ]
    text = processor.apply_chat_template(clean, add_generation_prompt=True, tokenize=False)
    tokenizer, image_processor = processor.tokenizer, processor.image_processor
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    factor = image_processor.patch_size * image_processor.merge_size
    count = len(ids) - ids.count(pad)
    for image in images:
        width, height = image.size
        new_h, new_w = smart_resize(
            height,
            width,
            factor=factor,
            min_pixels=image_processor.size["shortest_edge"],
            max_pixels=image_processor.size["longest_edge"],
        )
        count += (new_h // factor) * (new_w // factor)
    return count


def load_training_dataset(path: str | Path, val_fraction: float = 0.0, seed: int = 0, max_samples: int | None = None):
    """(train, val or None) datasets from a VLA-CoT ShareGPT file or a ``save_to_disk`` folder.
    Raises ValueError when the file holds no usable record; bad records are reported in the error
    only when none is usable, otherwise returned in the Conversion for the caller to log."""
    path = Path(path)
    if path.is_dir():
        from datasets import load_from_disk

        loaded = load_from_disk(str(path))
        if hasattr(loaded, "keys"):  # a DatasetDict
            train = loaded["train"]
            val = loaded.get("validation")
        else:
            train, val = loaded, None
        if max_samples:
            train = train.select(range(min(max_samples, len(train))))
        if val is None and val_fraction > 0:
            parts = train.train_test_split(test_size=val_fraction, seed=seed)
            train, val = parts["train"], parts["test"]
        return train, val, Conversion()
    conversion = load_sharegpt(path)
    if not conversion.records:
        raise ValueError(f"{path}: no usable record\n{conversion.summary()}")
    records = conversion.records[:max_samples] if max_samples else conversion.records
    train_records, val_records = train_val_split(records, val_fraction, seed)
    base = path.parent
    return to_hf_dataset(train_records, base), (to_hf_dataset(val_records, base) if val_records else None), conversion


# ----------------------------------------------------------------------------- file helpers
@dataclass(frozen=True)
class BadLine:
    """A JSONL line that is not JSON: kept in place so it is reported as one bad record, with its line."""

    path: str
    line: int  # 1-based line number in the file
    message: str

    def as_bad_record(self, index: int) -> BadRecord:
        return BadRecord(index, "?", f"{self.path} line {self.line}: not valid JSON ({self.message})")


def _read_json_or_jsonl(path: str | Path) -> Any:
    """A JSON document, or for ``.jsonl`` a list with one item per non-empty line (a line that does
    not parse becomes a ``BadLine`` instead of failing the whole file)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items: list = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                items.append(BadLine(str(path), number, f"{exc.msg} at column {exc.colno}"))
        return items
    return json.loads(text)


def _read_items(path: str | Path) -> list:
    data = _read_json_or_jsonl(path)
    if isinstance(data, dict):  # {"data": [...]} or a single item
        data = data.get("data", [data])
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list or JSONL of items")
    return data


def read_records(path: str | Path) -> Conversion:
    """Read VLA-R1 records (JSONL written by ``write_records``), validating each."""
    out = Conversion()
    for index, item in enumerate(_read_items(path)):
        if isinstance(item, BadLine):
            out.bad.append(item.as_bad_record(index))
            continue
        try:
            if not isinstance(item, dict):
                raise RecordError("a record must be a JSON object")
            known = {k: item[k] for k in VLARecord.__dataclass_fields__ if k in item}
            out.records.append(VLARecord(**known))
        except (RecordError, ActionError, TypeError, ValueError) as exc:
            out.bad.append(
                BadRecord(index, str(item.get("id", index)) if isinstance(item, dict) else str(index), str(exc))
            )
    return out


def load_any(path: str | Path, task: str | None = None, image_template: str = "{id}") -> Conversion:
    """Whatever the file holds: ShareRobot (an object with task lists, or records with
    ``meta_data``), VLA-CoT ShareGPT items (with ``conversations``) or VLA-R1 records."""
    data = _read_json_or_jsonl(path)
    if isinstance(data, dict) and ("affordance" in data or "trajectory" in data):
        return load_sharerobot(path, task, image_template)
    items = _read_items(path)
    first = next((item for item in items if isinstance(item, dict)), {})
    if isinstance(first, dict) and "meta_data" in first:
        return load_sharerobot(path, task, image_template)
    conversion = load_sharegpt(path) if isinstance(first, dict) and "conversations" in first else read_records(path)
    if task is not None:
        conversion.records = [r for r in conversion.records if r.task == task]
    return conversion
