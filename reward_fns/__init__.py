"""Reward functions for reasoning reward models: shapes, parsers and veRL entry points."""
