"""Market data in, causal features out: the bars contract and user files (bars), the SQLite bar
cache, load_bars (cache -> yfinance -> stale cache -> bundled sample, in market), causal features,
scaler and windows, and model/instrument identities. Imports only storage and the root."""
