"""Model providers: each module turns one wire format into the core's events."""
