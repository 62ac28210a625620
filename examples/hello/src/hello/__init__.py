"""Greets from inside a WebAssembly module."""
