"""The monitor process: account, positions, P&L and greeks; creates the schema and beats first."""
