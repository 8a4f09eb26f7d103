"""Built-in TWS simulator: protocol server, market model and shipped market data."""
