"""Evaluation: the gold question set, retrieval metrics, BEIR benchmarks and reports."""
