"""The command line a person and an operator use."""
