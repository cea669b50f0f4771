"""The prompt templates, one TOML file per version (read by store/prompts.py)."""
