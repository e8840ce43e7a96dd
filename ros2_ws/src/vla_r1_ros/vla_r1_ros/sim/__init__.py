"""The simulated cell as ROS 2 nodes (ros_cell, ros_bringup, ros_goal, ros_batch); the ROS-free cell is
``vla_r1_robot.sim``."""
