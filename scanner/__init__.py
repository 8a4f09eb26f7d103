"""Scanner: screens option chains for cash-secured put entries and records opportunities."""
