"""netbase_trio: not built yet; see the project issues."""
