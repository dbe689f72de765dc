"""Known-answer experiments that train, backtest and probe the reasoning states together (the edge-power ladder).

May import every engine layer below it (reasoning, live, evaluation, training, trading, model, data, storage,
compute, settings); imported only by the faces (views, the CLI) and benchmarks.
"""
