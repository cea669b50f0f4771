"""Test support shared by every test package (importable because pytest puts tests/ on the path)."""
