"""Replay: recorded frames through the pipeline (run), the visualization bag (bag_output), report.html (report)."""
