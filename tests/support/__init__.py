"""Helpers the tests share (not product code)."""
