"""Readers of model files that need no TensorFlow runtime: inspect, checkpoints, the op policy."""
