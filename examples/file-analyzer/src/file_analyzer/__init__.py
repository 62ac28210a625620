"""A file analyser that hosts load once and call for every file (examples/hosts/rust)."""
