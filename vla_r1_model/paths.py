"""Where the shared real test data lives (never copied into this repository)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def testdata_dir() -> Path | None:
    """``$VLA_R1_TESTDATA`` or ``../shared/testdata`` beside the checkout; None when absent."""
    env = os.environ.get("VLA_R1_TESTDATA")
    candidate = Path(env) if env else REPO_ROOT.parent / "shared" / "testdata"
    return candidate if candidate.is_dir() else None
