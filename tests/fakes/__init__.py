"""Fake external services for integration tests."""
