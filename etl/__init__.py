"""Mashaghel: provincial home-business drops to one national warehouse."""
