"""Defaults and choices the parsers show, as plain constants: building the parser must not import the
model runtime (torch, transformers, numpy). They repeat the library's values;
tests/test_cli_light_imports.py checks that they are equal."""

# vla_r1_model.actions.TASKS
TASKS: tuple[str, ...] = ("affordance", "trajectory")
# vla_r1_model.loading.DEFAULT_MODEL_ID and QUANTIZATIONS
DEFAULT_MODEL_ID = "GigaAI-Research/vla-r1"
QUANTIZATIONS: tuple[str, ...] = ("none", "nf4", "int8")
TIP_LINK = "panda_hand"  # vla_r1_robot.motion.robot_profile.PANDA.tip_link (the default robot)

# `vla-r1 bench model`: reasoning lengths of the whole answers timed, and the image-token budgets swept
DEFAULT_REASONING_TOKENS = (128, 256, 512)
DEFAULT_MAX_PIXELS = (200704, 100352)  # 256 and 128 image tokens, besides the checkpoint's own budget
