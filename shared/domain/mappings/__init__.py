"""How a pulled source's coordinates map onto the catalog's indicators, areas and genders."""
