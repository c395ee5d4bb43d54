"""A simulated fleet of CREST servers speaking the same protocols as the real ones."""
