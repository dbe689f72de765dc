"""Judging strategies out of sample: the test-period evaluation, walk-forward retraining, rule
baselines, market regimes, the trial registry every DSR reads, and the docs report. Imports
training and everything below it."""
