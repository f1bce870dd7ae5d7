"""What runs models through TensorFlow's C library: load, graphs, warmup, profiling, the repository."""
