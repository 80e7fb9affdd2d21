"""Fitting the body to 2D evidence over time: the pose prior and the per-track refinement
(`meshvid infer --refine`)."""
