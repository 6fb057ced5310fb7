"""Side-by-side benchmarks against PyTorch."""
