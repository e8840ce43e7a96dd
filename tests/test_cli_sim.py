"""`vla-r1 sim`: bad arguments and configs are refused before any work, with the reason."""

from __future__ import annotations

from vla_r1_cli.main import main


def test_bad_arguments_are_usage_errors(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["sim", "eval", "--episodes", "0", "--out", str(out)]) == 2
    assert "episodes must be an integer >= 1" in capsys.readouterr().err
    assert main(["sim", "eval", "--box-noise-px", "3", "--policy", "model", "--model", "tiny", "--out", str(out)]) == 2
    assert "does not apply to --policy model" in capsys.readouterr().err
    assert main(["sim", "eval", "--box-noise-px", "3", "3", "--out", str(out)]) == 2
    assert "distinct" in capsys.readouterr().err
    config = tmp_path / "bad.yaml"
    config.write_text("task:\n  lift_hieght_m: 0.1\n")
    assert main(["sim", "eval", "--config", str(config), "--out", str(out)]) == 2
    assert "unknown task config keys ['lift_hieght_m']" in capsys.readouterr().err
    config.write_text("tasks: {}\n")
    assert main(["sim", "eval", "--config", str(config), "--out", str(out)]) == 2
    assert "expected a mapping with sections" in capsys.readouterr().err
    existing = tmp_path / "done"
    existing.mkdir()
    assert main(["sim", "eval", "--out", str(existing)]) == 2
    assert "exists" in capsys.readouterr().err
    assert not out.exists()
