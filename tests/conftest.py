"""Shared fixtures: the real test data folder and the tiny random-weight checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vla_r1_model.paths import testdata_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# MuJoCo picks its GL backend once, at its first import, whichever test module does it: off-screen EGL
# for the whole run (a windowed default aborts in Renderer() on a machine without a display)
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


@pytest.fixture(scope="session")
def testdata() -> Path:
    path = testdata_dir()
    if path is None:
        pytest.skip("real test data not found: set VLA_R1_TESTDATA or put shared/testdata beside the checkout")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random-weight Qwen2.5-VL checkpoint built once per test run."""
    from vla_r1_model.tiny_checkpoint import build_tiny_checkpoint

    out = tmp_path_factory.mktemp("tiny_vla_r1")
    build_tiny_checkpoint(out)
    return out
