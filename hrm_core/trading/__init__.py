"""From model outputs to a book: fitting the position rule, the cached per-bar signal table, the
risk layer, the backtest (fills, costs, trades) and performance metrics. Imports model, data,
storage and the root."""
