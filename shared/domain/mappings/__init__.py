"""How a pulled source's rows map to the catalog: a connector block per källa, mappings per indicator."""
