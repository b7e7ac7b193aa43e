"""What every layer shares: errors for people, model lookup, index settings, the index format and reading it."""
