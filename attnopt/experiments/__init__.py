"""Scripts that regenerate the report's tables and figures (run by the Makefile targets)."""
