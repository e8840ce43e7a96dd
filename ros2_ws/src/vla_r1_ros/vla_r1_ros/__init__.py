"""VLA-R1 ROS 2 package. Modules here import without ROS except the ROS layer (node, MoveIt bridge, conversions)."""
