"""The simulated cell (MuJoCo): a Panda from the planner's own URDF picking the demo scene's objects.

``cell`` (the physics and cameras), ``execute`` (a TaskPlan carried out with the failure detectors a
real cell stops on), ``policies`` (the ground-truth answer source), ``evaluation`` (episodes and the
success rate), ``report`` (HTML). Needs the ``sim`` extra (mujoco, example-robot-data).
"""
