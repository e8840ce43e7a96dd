"""`bench model` results as Markdown tables, ready for docs/benchmarks.md."""

from __future__ import annotations


def _cell(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _by_mode(result: dict, key: str, row_key: str) -> tuple[list[str], dict[str, dict[str, dict]]]:
    """{row label: {mode: row}} for the per-mode lists ``answers`` or ``image_budgets``."""
    modes = [m["mode"] for m in result["modes"] if m.get(key)]
    table: dict[str, dict[str, dict]] = {}
    for mode in result["modes"]:
        for row in mode.get(key) or []:
            table.setdefault(str(row[row_key]), {})[mode["mode"]] = row
    return modes, table


def markdown_report(result: dict) -> str:
    machine = result["machine"]
    where = machine.get("gpu") or f"CPU ({machine.get('cpu_count')} cores)"
    bandwidth = result.get("bandwidth_bytes_per_s")
    lines = [
        f"Machine: {where}; torch {machine['torch']}, Python {machine['python']}. Model: {result['model']}. "
        f"Frame {result['image_size'][0]}x{result['image_size'][1]}, {result['new_tokens']} new tokens, "
        f"median of {result['repeats']}. Bandwidth for the floor: "
        + (f"{bandwidth / 1e12:.2f} TB/s." if bandwidth else "unknown (no floor)."),
        "",
    ]
    rows = [
        [
            m["mode"],
            _cell(m["decode_tokens_per_s"]),
            _cell(m["bandwidth_floor_tokens_per_s"]),
            _cell(m["fraction_of_floor"] * 100 if m["fraction_of_floor"] is not None else None),
            _cell(m.get("decode_speed_vs_none"), 2),
            _cell(m["time_to_first_token_ms"]),
            " / ".join(_cell(v) for v in m["preprocess_direct_vs_processor_ms"]),
            _cell(m["peak_gpu_allocated_gb"], 2),
            _cell(m["model_memory_gb"], 2),
            _cell(m["weight_bytes_per_token"] / 1e9, 2),
            "yes" if m["compiled"] else "no",
        ]
        for m in result["modes"]
    ]
    lines += _table(
        [
            "mode",
            "decode tok/s",
            "floor tok/s",
            "% of floor",
            "vs none",
            "TTFT ms",
            "preprocess ms direct / processor",
            "peak GPU GB",
            "model GB",
            "weights read/token GB",
            "compiled",
        ],
        rows,
    )

    by_memory = result.get("fastest_mode_by_memory_gb") or {}
    if by_memory:
        basis = (
            "peak GPU memory"
            if any(m["peak_gpu_allocated_gb"] is not None for m in result["modes"])
            else "model memory (no GPU: a lower bound)"
        )
        lines += ["", f"Fastest mode that fits, by {basis}:", ""]
        lines += _table([f"{gb} GB" for gb in by_memory], [[mode or "none fits" for mode in by_memory.values()]])
    modes, answers = _by_mode(result, "answers", "scenario")
    if answers:
        lines += ["", "Whole answers (preprocessing + prefill + decoding, ms; tokens generated):", ""]
        lines += _table(
            ["answer", "tokens", *modes],
            [
                [
                    name,
                    _cell(next(iter(per_mode.values()))["generated_tokens"]),
                    *(_cell(per_mode[m]["latency_ms"]) if m in per_mode else "-" for m in modes),
                ]
                for name, per_mode in answers.items()
            ],
        )
    modes, budgets = _by_mode(result, "image_budgets", "max_pixels")
    if budgets:
        lines += ["", "Image-token budget (time to first token, ms):", ""]
        lines += _table(
            ["max_pixels", "model input", "image tokens", *modes],
            [
                [
                    "checkpoint default" if label == "None" else label,
                    "x".join(map(str, next(iter(per_mode.values()))["model_input_size"] or ())),
                    _cell(next(iter(per_mode.values()))["image_tokens"]),
                    *(_cell(per_mode[m]["time_to_first_token_ms"]) if m in per_mode else "-" for m in modes),
                ]
                for label, per_mode in budgets.items()
            ],
        )
    return "\n".join(lines) + "\n"
