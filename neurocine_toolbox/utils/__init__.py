"""Small helpers shared by every stage: atomic outputs, hashing, progress bars."""
