"""Learning: chronological splits and windows, the training loop (CPU, GPU, torchrun DDP), skill
against the constant predictor, and the L2 logistic regression baseline learner. Imports trading
and everything below it."""
