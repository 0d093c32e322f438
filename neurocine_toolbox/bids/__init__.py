"""BIDS input and output: layout queries, derivative folders, templates, the Wen 2018 converter."""
