"""Camera frames and their grounding: Frame, color/depth pairing, pixels + depth -> base-frame targets."""
