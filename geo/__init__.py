"""The planning engine: walk times, coverage, circles, gaps, what-if and siting (no web or map code)."""
