"""The ROS-free robot core of VLA-R1: perception (frames, grounding), motion (kinematics, planning,
safety, the task layer), the pipeline, bag I/O, replay and the simulated cell. Never imports rclpy
(docs/architecture.md, "Packages and what each may import")."""
