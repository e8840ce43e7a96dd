"""`vla-r1 bench`: result paths are checked before a benchmark runs, and written atomically."""

from __future__ import annotations

import json

from vla_r1_cli.main import main


def test_a_folder_or_a_file_in_the_way_is_refused_before_the_benchmark(tmp_path, capsys):
    assert main(["bench", "reward", "--samples", "5", "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    assert main(["bench", "reward", "--samples", "5", "--json", str(blocker / "r.json")]) == 2
    assert "cannot create its folder" in capsys.readouterr().err and blocker.read_text() == "keep"
    assert main(["bench", "pipeline", "--frames", "0"]) == 2
    assert "--frames" in capsys.readouterr().err


def test_results_land_in_new_folders(tmp_path):
    out = tmp_path / "new" / "reward.json"
    assert main(["bench", "reward", "--samples", "5", "--points", "4", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["benchmark"] == "reward"
    assert [p.name for p in out.parent.iterdir()] == ["reward.json"]  # no temporary file left
