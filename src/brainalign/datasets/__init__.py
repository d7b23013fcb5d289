"""Dataset kinds: each module turns one source of data into brain stores and a stimulus table."""
