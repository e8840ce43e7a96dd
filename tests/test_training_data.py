"""Data converters: ShareRobot -> VLA-R1 records, VLA-CoT ShareGPT <-> Hugging Face datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from training.data import (
    VLARecord,
    convert_sharerobot,
    load_sharegpt,
    load_sharerobot,
    load_training_dataset,
    read_records,
    record_to_sharegpt,
    split_prompt,
    to_hf_dataset,
    train_val_split,
    write_records,
    write_sharegpt,
)
from training.rewards import compute_score
from vla_r1_model.prompts import build_messages

META = {"original_dataset": "bridge", "original_width": 640, "original_height": 480}


def test_sharerobot_samples_convert_to_normalized_center_boxes(testdata):
    conversion = load_sharerobot(testdata / "sharerobot" / "sharerobot_samples.json")
    assert conversion.bad == [] and len(conversion.records) == 2  # planning records are not ours
    affordance, trajectory = conversion.records
    assert affordance.task == "affordance" and affordance.image == "2486"
    assert affordance.instruction == "place the red fork to the left of the left burner"
    left, top, w, h = 352.87425387858815, 186.47871614766484, 19.296008229513156, 14.472006172134865
    # TOP-LEFT pixels -> CENTER normalized, 6 decimals
    assert affordance.answer == {
        "x": round((left + w / 2) / 640, 6),
        "y": round((top + h / 2) / 480, 6),
        "width": round(w / 640, 6),
        "height": round(h / 480, 6),
    }
    assert affordance.answer["x"] == pytest.approx(0.566441, abs=1e-6)  # (352.874 + 19.296 / 2) / 640
    assert trajectory.task == "trajectory" and trajectory.source == "sharerobot/bridge"
    assert trajectory.answer[0] == [round(265.45454545454544 / 640, 6), 0.25]
    assert trajectory.answer[-1] == [0.4375, round(259.3939393939394 / 480, 6)]


def test_sharerobot_bad_records_are_reported_not_dropped():
    good = {
        "id": 1,
        "meta_data": META,
        "instruction": "grab the cup",
        "affordance": {"x": 10, "y": 20, "width": 30, "height": 40},
    }
    raw = [
        good,
        {**good, "id": 2, "meta_data": {"original_width": 640}},
        {**good, "id": 3, "affordance": {"x": 10, "y": 20, "width": -5, "height": 40}},
        {**good, "id": 4, "affordance": {"x": 630, "y": 20, "width": 30, "height": 40}},  # past the right edge
        {**good, "id": 5, "affordance": {"x": "10", "y": 20, "width": 30, "height": 40}},
        {**good, "id": 6, "instruction": "  "},
        "not a record",
        {**good, "id": 8, "affordance": {"x": 610.5, "y": 0, "width": 30, "height": 40}},  # 0.5 px over: clipped
    ]
    conversion = convert_sharerobot(raw, "affordance", image_template="{dataset}/{id}.jpg")
    assert [r.id for r in conversion.records] == ["sharerobot-affordance-1", "sharerobot-affordance-8"]
    assert conversion.records[0].image == "bridge/1.jpg"
    assert conversion.records[1].answer["x"] + conversion.records[1].answer["width"] / 2 == pytest.approx(1.0)
    reasons = {b.id: b.reason for b in conversion.bad}
    assert set(reasons) == {"2", "3", "4", "5", "6", "?"}
    assert "original_height" in reasons["2"] and "non-positive" in reasons["3"]
    assert "outside the image" in reasons["4"] and "number" in reasons["5"] and "instruction" in reasons["6"]
    assert "6 rejected" in conversion.summary() and conversion.report()["rejected"] == 6


def test_sharerobot_bad_trajectories():
    good = {"id": 1, "meta_data": META, "instruction": "reach", "points": [[0, 0], [320, 240], [640, 480]]}
    raw = [
        good,
        {**good, "id": 2, "points": [[1, 1]]},
        {**good, "id": 3, "points": [[1, 1], [2]]},
        {**good, "id": 4, "points": [[1, 1], [1, 900]]},
        {**good, "id": 5, "points": [[1, float("nan")], [2, 2]]},
    ]
    conversion = convert_sharerobot(raw, "trajectory")
    assert [r.answer for r in conversion.records] == [[[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]]
    assert [b.id for b in conversion.bad] == ["2", "3", "4", "5"]


def test_plain_list_needs_task(tmp_path):
    path = tmp_path / "aff.json"
    path.write_text(
        json.dumps(
            [{"id": 1, "meta_data": META, "instruction": "x", "affordance": {"x": 1, "y": 1, "width": 2, "height": 2}}]
        )
    )
    with pytest.raises(ValueError, match="--task"):
        load_sharerobot(path)
    assert len(load_sharerobot(path, task="affordance").records) == 1


def make_records(tmp_path: Path, count: int = 4) -> list[VLARecord]:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    records = []
    for i in range(count):
        Image.new("RGB", (56, 56), (40 * i, 80, 120)).save(images / f"{i}.png")
        if i % 2 == 0:
            answer, task = {"x": 0.5, "y": 0.4, "width": 0.2, "height": 0.1 + i / 100}, "affordance"
        else:
            answer, task = [[0.1, 0.1], [0.3, 0.2 + i / 100], [0.6, 0.6]], "trajectory"
        records.append(
            VLARecord(f"r{i}", task, f"images/{i}.png", f"pick up object {i}", answer, reasoning=f"step {i}")
        )
    return records


def test_sharegpt_round_trip_rewrites_image_paths(tmp_path):
    records = make_records(tmp_path)
    out = write_sharegpt(records, tmp_path / "data" / "cot.json", source_dir=tmp_path)
    items = json.loads(out.read_text())
    assert items[0]["image"] == "../images/0.png"  # relative to the data file
    human, gpt = items[1]["conversations"][0]["value"], items[1]["conversations"][1]["value"]
    assert human.endswith("<image>") and "optimal trajectory of the end-effector" in human
    assert gpt.startswith("<think>step 1</think> so, the answer is <output>[[0.1, 0.1]")
    back = load_sharegpt(out)
    assert back.bad == []
    assert [(r.task, r.answer, r.reasoning, r.instruction) for r in back.records] == [
        (r.task, r.answer, r.reasoning, r.instruction) for r in records
    ]
    assert all(r.resolved_image(out.parent).is_file() for r in back.records)
    jsonl = write_sharegpt(back.records, tmp_path / "data" / "cot.jsonl")
    assert len(load_sharegpt(jsonl).records) == 4


def test_sharegpt_bad_items_reported(tmp_path):
    records = make_records(tmp_path, 2)
    items = [record_to_sharegpt(r) for r in records]
    broken_answer = json.loads(json.dumps(items[0]))
    broken_answer["conversations"][1]["value"] = "<think>x</think> <output>{'x': 1}</output>"
    wrong_task = json.loads(json.dumps(items[0]))
    wrong_task["task"] = "trajectory"
    no_image = {k: v for k, v in items[1].items() if k != "image"}
    out_of_range = json.loads(json.dumps(items[1]))
    out_of_range["conversations"][1]["value"] = "<think>x</think> <output>[[0.1, 0.1], [1.5, 0.2]]</output>"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(items + [broken_answer, wrong_task, no_image, out_of_range, 7]))
    conversion = load_sharegpt(path)
    assert len(conversion.records) == 2
    reasons = [b.reason for b in conversion.bad]
    assert len(reasons) == 5
    assert "not valid JSON" in reasons[0] and "prompt form" in reasons[1] and "image" in reasons[2]
    assert "outside the normalized range" in reasons[3] and "JSON object" in reasons[4]


def test_split_prompt_detects_task():
    instruction, task = split_prompt(
        "reach for the carrot Please output the optimal trajectory of the end-effector to the target object "
        "in the format <output>[[x1, y1], [x2, y2], ...]</output>.<image>"
    )
    assert (instruction, task) == ("reach for the carrot", "trajectory")
    assert split_prompt("<image>what is this?") == ("what is this?", None)


def test_hf_dataset_round_trip(tmp_path):
    records = make_records(tmp_path)
    dataset = to_hf_dataset(records, tmp_path)
    row = dataset[1]
    assert row["images"][0].size == (56, 56)
    assert (
        row["prompt"][0]["content"][0]["text"]
        == build_messages(records[1].instruction, "trajectory")[0]["content"][0]["text"]
    )
    assert [p["type"] for p in row["prompt"][0]["content"]] == ["text", "image"]  # text first, then the image
    assert row["completion"][0]["role"] == "assistant"
    assert compute_score(row["completion"][0]["content"][0]["text"], row["ground_truth"])["score"] == pytest.approx(1.0)
    assert [row["ground_truth"] for row in dataset] == [r.answer_text() for r in records]
    assert dataset.features["images"].feature.__class__.__name__ == "Image"  # decoded as images, not paths
    with pytest.raises(FileNotFoundError, match="r0"):
        to_hf_dataset(records, tmp_path / "elsewhere")


def test_train_val_split_is_stratified_and_deterministic(tmp_path):
    records = make_records(tmp_path, 10)
    train, val = train_val_split(records, 0.2, seed=3)
    assert len(train) + len(val) == 10 and {r.task for r in val} == {"affordance", "trajectory"}
    assert [r.id for r in val] == [r.id for r in train_val_split(records, 0.2, seed=3)[1]]
    assert train_val_split(records, 0.0)[1] == []
    with pytest.raises(ValueError):
        train_val_split(records, 1.0)


def test_load_training_dataset_and_records_file(tmp_path):
    records = make_records(tmp_path, 6)
    cot = write_sharegpt(records, tmp_path / "cot.json")
    train, val, conversion = load_training_dataset(cot, val_fraction=0.34, seed=0)
    assert len(train) + len(val) == 6 and len(val) == 2 and conversion.bad == []
    train.save_to_disk(str(tmp_path / "ds"))
    again, none_val, _ = load_training_dataset(tmp_path / "ds")
    assert len(again) == len(train) and none_val is None
    path = write_records(records, tmp_path / "records.jsonl")
    assert [r.answer for r in read_records(path).records] == [r.answer for r in records]
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(ValueError, match="no usable record"):
        load_training_dataset(empty)


def test_imported_vla_cot_prompts_stay_byte_exact(tmp_path):
    """Issue 15.6: an imported human turn reaches the model and the re-written file unchanged."""
    Image.new("RGB", (56, 56)).save(tmp_path / "a.png")
    human = (
        "  Pick up the cup, then wait. Please output the 2D affordance region define by bounding box of the object in "
        'the format <output>{"x": value, "y": value, "width": value, "height": value}</output>.\n<image>'
    )
    item = {
        "id": "x1",
        "image": "a.png",
        "conversations": [
            {"from": "human", "value": human},
            {
                "from": "gpt",
                "value": "<think>t</think> so, the answer is "
                '<output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>',
            },
        ],
    }
    path = tmp_path / "cot.json"
    path.write_text(json.dumps([item]))
    record = load_sharegpt(path).records[0]
    row = to_hf_dataset([record], tmp_path)[0]
    assert row["prompt"][0]["content"][0]["text"] == human[: -len("<image>")]  # leading spaces and newline kept
    assert row["prompt"][0]["content"][1]["type"] == "image"
    rewritten = write_sharegpt([record], tmp_path / "out" / "cot.jsonl", source_dir=tmp_path)
    assert json.loads(rewritten.read_text())["conversations"][0]["value"] == human
    # a record built here (ShareRobot) gets the reference layout: prompt, newline, <image>
    built = record_to_sharegpt(
        VLARecord("b", "affordance", "a.png", "pick up the cup", {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2})
    )
    assert (
        built["conversations"][0]["value"]
        == "pick up the cup" + build_messages("x", "affordance")[0]["content"][0]["text"][1:] + "<image>"
    )
    assert built["conversations"][0]["value"].endswith("</output>.\n<image>")
