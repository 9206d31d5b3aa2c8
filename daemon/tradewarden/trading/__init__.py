"""How an order travels: order gate, trader, per-bot ledger, brokers, market data."""
