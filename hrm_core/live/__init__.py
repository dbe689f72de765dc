"""Paper trading in operation: the trader loop and replay, the crash-safe ledger, reconciliation
with the backtest, and the health monitor. Imports evaluation and everything below; independent of
reasoning."""
