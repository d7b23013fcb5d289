"""Dataset kinds: each prepares a brain store and a stimulus table."""
