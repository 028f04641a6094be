"""The `renderer` command line: one module per command, all thin; errors are mapped in `main`."""
