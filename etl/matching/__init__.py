"""Suspected duplicate identities: the parts behind :mod:`etl.match` (keys, model, warehouse input)."""
