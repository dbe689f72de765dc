"""Reproducible speed and memory benchmarks; each module prints JSON (`python -m benchmarks.model`)."""
