"""The use cases: everything a handler, a consumer or a CLI command would otherwise repeat.
No HTTP here: handlers turn outcomes into responses."""
