"""The PxWeb connector (API v1 and v2): tables mapped to indicators, fetched as JSON-stat 2.0."""
