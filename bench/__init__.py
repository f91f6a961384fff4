"""`make bench`: the server against an N+1 baseline and its own raw-SQL floor, over HTTP."""
