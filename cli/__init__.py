"""The `credit-scoring` command line: the top layer, one module per job, calling the packages below."""
