"""The VLA-R1 ROS 2 layer: the node and its helpers (node_config, node_logic, conversions, moveit_bridge,
controller_execution) and the simulated cell as ROS 2 nodes (sim/). The ROS-free core is vla_r1_robot."""
