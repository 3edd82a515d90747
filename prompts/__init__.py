"""Versioned prompt files, shipped as package data (see README: Prompts)."""
