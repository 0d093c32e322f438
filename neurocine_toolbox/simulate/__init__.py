"""A synthetic movie-watching BIDS dataset with known ground truth."""
