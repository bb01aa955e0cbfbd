"""netbase_recording: not built yet; see the project issues."""
