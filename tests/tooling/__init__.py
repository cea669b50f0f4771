"""Tests of the repository's own tooling: the service generator, the list of services and
every place derived from it, and the import contracts."""
