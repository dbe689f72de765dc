"""HRM Trader engine: data, features, model, training, signals, backtest, metrics. Never imports Streamlit."""
