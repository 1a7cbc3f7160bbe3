"""vetor's HTTP server: protocol adapters, service handlers and the one access gate, on one port."""
