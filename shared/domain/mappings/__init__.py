"""How a pulled source's rows map to the catalog: a connector block per källa, one mapping per indicator."""
