"""The CoT data engine against a local HTTP server speaking the chat-completions protocol."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from training.cot import CotConfig, judge, run_cot_engine, teacher_system_prompt
from training.data import VLARecord, load_sharegpt
from vla_r1_cli.main import main as cli_main


class FakeTeacher:
    """Answers by the record's instruction: 'good' copies the answer, 'far' answers elsewhere,
    'broken' writes no JSON, 'flaky' fails with HTTP 500 on its first call."""

    def __init__(self):
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.flaky_seen = False

    def reply(self, body: dict) -> tuple[int, dict]:
        user = body["messages"][1]["content"]
        text = user[0]["text"]
        assert user[1]["image_url"]["url"].startswith("data:image/png;base64,")
        answer = text.split("Correct answer: ")[1]
        if "flaky" in text and not self.flaky_seen:
            self.flaky_seen = True
            return 500, {"error": "overloaded"}
        steps = (
            "1. Task parsing: the instruction asks to pick up the cup, so the target is the cup's handle region. "
            "2. Scene understanding: a table with a cup and a plate; the cup stands clear of the plate. "
            "3. Region localization: the cup is on the left side, around (0.3, 0.4) in the image. "
            "4. Feasibility check: the handle faces the gripper and nothing blocks the approach."
        )
        if "far" in text:
            answer = '<output>{"x": 0.9, "y": 0.9, "width": 0.05, "height": 0.05}</output>'
        if "broken" in text:
            answer = "<output>somewhere left</output>"
        content = f"<think>{steps}</think> so, the answer is {answer}"
        return 200, {"choices": [{"message": {"role": "assistant", "content": content}}]}


@pytest.fixture()
def teacher_server():
    teacher = FakeTeacher()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server API
            assert self.path == "/v1/chat/completions"
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with teacher.lock:
                teacher.requests.append(body)
                teacher.in_flight += 1
                teacher.max_in_flight = max(teacher.max_in_flight, teacher.in_flight)
            time.sleep(0.03)
            status, payload = teacher.reply(body)
            with teacher.lock:
                teacher.in_flight -= 1
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield teacher, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def make_records(tmp_path, names):
    (tmp_path / "img").mkdir(exist_ok=True)
    records = []
    for i, name in enumerate(names):
        Image.new("RGB", (64, 48), (i * 20, 100, 50)).save(tmp_path / "img" / f"{i}.png")
        records.append(
            VLARecord(
                f"id{i}",
                "affordance",
                f"img/{i}.png",
                f"pick up the {name} cup",
                {"x": 0.3, "y": 0.4, "width": 0.2, "height": 0.1},
            )
        )
    return records


def test_engine_keeps_good_answers_rejects_bad_and_resumes(tmp_path, teacher_server):
    teacher, url = teacher_server
    records = make_records(tmp_path, ["good", "far", "broken", "flaky", "good2", "good3", "good4", "good5"])
    out = tmp_path / "out" / "cot.jsonl"
    config = CotConfig(url, "teacher", str(out), threshold=0.9, concurrency=2, attempts=2, max_retries=2, timeout_s=10)
    stats = run_cot_engine(records[:6], config, base_dir=tmp_path, progress=False)
    assert (stats.accepted, stats.rejected, stats.errors) == (4, 2, 0)  # flaky recovered by the HTTP retry
    assert teacher.max_in_flight <= 2
    # far and broken are asked `attempts` times each; flaky's 500 is one more request
    assert stats.teacher_calls == 8 and len(teacher.requests) == 9
    system = teacher.requests[0]["messages"][0]["content"]
    assert "Region localization" in system and "Feasibility check" in system

    kept = load_sharegpt(out)
    assert kept.bad == [] and sorted(r.id for r in kept.records) == ["id0", "id3", "id4", "id5"]
    first = next(r for r in kept.records if r.id == "id0")
    assert first.reasoning.startswith("1. Task parsing") and first.answer == records[0].answer
    assert first.resolved_image(out.parent).is_file()  # image path relative to the output file
    rejected = [json.loads(line) for line in config.rejected_path.read_text().splitlines()]
    assert {r["id"] for r in rejected} == {"id1", "id2"}
    assert any("below threshold" in r["reason"] for r in rejected) and any("format" in r["reason"] for r in rejected)

    # resume: only the two new records are asked; then rejected ones can be retried on demand
    before = len(teacher.requests)
    again = run_cot_engine(records, config, base_dir=tmp_path, progress=False)
    assert (again.skipped, again.accepted, len(teacher.requests) - before) == (6, 2, 2)
    retry = run_cot_engine(
        records, CotConfig(url, "teacher", str(out), retry_rejected=True, attempts=1), base_dir=tmp_path, progress=False
    )
    assert retry.skipped == 6 and retry.rejected == 2


def test_engine_counts_server_failures_and_retries_them_next_run(tmp_path):
    records = make_records(tmp_path, ["good"])
    out = tmp_path / "cot.jsonl"
    config = CotConfig("http://127.0.0.1:9", "teacher", str(out), max_retries=0, timeout_s=2)
    stats = run_cot_engine(records, config, base_dir=tmp_path, progress=False)
    assert stats.errors == 1 and stats.accepted == 0
    assert not out.read_text() and not config.rejected_path.read_text()  # nothing recorded: redone next run


def test_judge_and_prompts():
    record = VLARecord("a", "trajectory", "x.png", "reach the mug", [[0.1, 0.1], [0.5, 0.5]])
    good = (
        "<think>1. Task parsing: reach the mug on the table. 2. Object and gripper localization: the gripper starts at "
        "the upper left, the mug sits near the centre of the image. "
        "3. Scene constraints: the path is free of obstacles "
        "between them. 4. Trajectory logic: move diagonally down and right from (0.1, 0.1) to the mug.</think> "
        "so, the answer is <output>[[0.1, 0.1], [0.5, 0.5]]</output>"
    )
    assert judge(record, good, 0.99).accepted
    wrong_kind = '<think>x</think> <output>{"x": 0.1, "y": 0.1, "width": 0.1, "height": 0.1}</output>'
    assert "unusable" in judge(record, wrong_kind, 0.0).reason
    assert "Trajectory logic" in teacher_system_prompt("trajectory")
    assert "Object and gripper localization" in teacher_system_prompt("trajectory")
    with pytest.raises(ValueError):
        CotConfig("http://x", "m", "o.jsonl", threshold=1.5)


def test_cli_cot(tmp_path, teacher_server, capsys):
    _, url = teacher_server
    records = make_records(tmp_path, ["good", "far"])
    data = tmp_path / "records.jsonl"
    data.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    out = tmp_path / "cot.jsonl"
    code = cli_main(
        [
            "train",
            "cot",
            "--teacher-url",
            url,
            "--teacher-model",
            "t",
            "--data",
            str(data),
            "--out",
            str(out),
            "--concurrency",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["accepted"] == 1 and summary["rejected"] == 1
    assert (
        cli_main(
            [
                "train",
                "cot",
                "--teacher-url",
                url,
                "--teacher-model",
                "t",
                "--data",
                str(tmp_path / "none.json"),
                "--out",
                str(out),
            ]
        )
        == 2
    )


# Issue 15.4: the judge checks the reasoning, not only the <output> block.
BOX = {"x": 0.7, "y": 0.65, "width": 0.2, "height": 0.2}
GOOD_AFFORDANCE = (
    "1. Task parsing: the instruction is to pick up the red mug, so the graspable handle is the target. "
    "2. Scene understanding: a wooden table holds a red mug, a bowl and a spoon; the mug stands alone. "
    "3. Region localization: the mug is in the lower right part of the image, centred near (0.7, 0.65). "
    "4. Feasibility check: the handle faces the camera and the gripper can reach it without collisions."
)


def verdict_for(reasoning: str, answer=BOX, task="affordance", instruction="pick up the red mug"):
    record = VLARecord("c", task, "x.png", instruction, answer)
    output = json.dumps(answer)
    return judge(record, f"<think>{reasoning}</think> so, the answer is <output>{output}</output>", 0.9)


@pytest.mark.parametrize(
    "reasoning, code",
    [
        ("ok", "missing_steps"),
        (GOOD_AFFORDANCE + " The mug is not visible; I guess the top-left corner.", "uncertain"),
        (
            GOOD_AFFORDANCE.replace("in the lower right part of the image", "in the top-left corner"),
            "location_disagrees",
        ),
        (GOOD_AFFORDANCE.replace("(0.7, 0.65)", "(0.15, 0.2)"), "coordinates_disagree"),
        (GOOD_AFFORDANCE + ' The answer is {"x": 0.7, "y": 0.65, "width": 0.2, "height": 0.2}.', "answer_leaked"),
        (
            "1. Task parsing: grab. 2. Scene understanding: table. 3. Region localization: right. "
            "4. Feasibility check: fine.",
            "too_short",
        ),
        (GOOD_AFFORDANCE.replace("Feasibility check", "Conclusion"), "missing_steps"),
        (
            GOOD_AFFORDANCE.replace(
                "pick up the red mug, so the graspable handle is the target", "do the task we were given here"
            ),
            "instruction_not_addressed",
        ),
    ],
)
def test_judge_rejects_reasoning_that_does_not_support_the_answer(reasoning, code):
    verdict = verdict_for(reasoning)
    assert verdict.score == pytest.approx(1.0)  # the <output> is perfect: only the reasoning is wrong
    assert not verdict.accepted and verdict.code == code, verdict.reason


def test_judge_accepts_grounded_reasoning_and_checks_trajectories():
    assert verdict_for(GOOD_AFFORDANCE).accepted
    path = [[0.2, 0.8], [0.5, 0.6], [0.8, 0.3]]
    reasoning = (
        "1. Task parsing: move the sponge to the bowl on the right. 2. Object and gripper localization: the gripper "
        "holds the sponge at the lower left, the bowl is at the upper right around (0.8, 0.3). 3. Scene constraints: "
        "a cup stands in the middle, so the path passes above it. 4. Trajectory logic: rise from (0.2, 0.8), pass "
        "near (0.5, 0.6) and end over the bowl."
    )
    assert verdict_for(reasoning, path, "trajectory", "move the sponge to the bowl").accepted
    wrong = reasoning.replace("(0.8, 0.3)", "(0.1, 0.1)")
    assert verdict_for(wrong, path, "trajectory", "move the sponge to the bowl").code == "coordinates_disagree"


def test_engine_reports_rejections_by_reason(tmp_path, teacher_server):
    _, url = teacher_server
    records = make_records(tmp_path, ["good", "far", "broken"])
    config = CotConfig(url, "teacher", str(tmp_path / "cot.jsonl"), attempts=1, timeout_s=10)
    stats = run_cot_engine(records, config, base_dir=tmp_path, progress=False)
    assert stats.rejections_by_reason == {"below_threshold": 1, "format": 1}
    assert stats.to_dict()["rejections_by_reason"] == {"below_threshold": 1, "format": 1}
    rows = [json.loads(line) for line in config.rejected_path.read_text().splitlines()]
    assert sorted(r["reason_code"] for r in rows) == ["below_threshold", "format"]
