"""HRM Trader's engine, in layers that each import only those below them (enforced by import-linter,
contracts in pyproject.toml): storage -> data -> model -> trading -> training -> evaluation ->
reasoning | live. The root holds what every layer may use: settings, errors, jsonsafe, runtime.
Never imports Streamlit, explain or the CLI."""
