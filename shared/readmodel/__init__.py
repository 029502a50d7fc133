"""The read model's writer: what the aggregator applies live, and what past moments are built with."""
