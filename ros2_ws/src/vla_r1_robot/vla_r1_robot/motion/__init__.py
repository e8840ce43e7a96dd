"""Arm motion: kinematics, planning, safety checks, time parameterization, the task layer and the
execution decisions of a controller."""
