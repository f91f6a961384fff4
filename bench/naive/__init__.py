"""The N+1 baseline: plain resolvers, one query per parent."""
