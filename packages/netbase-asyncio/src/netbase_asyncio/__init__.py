"""netbase_asyncio: not built yet; see the project issues."""
