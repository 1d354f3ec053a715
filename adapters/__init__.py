"""Platform adapters, the delivery ledger, dead letters and the RQ wiring they share."""
