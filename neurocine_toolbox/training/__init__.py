"""Training: the accelerate loop, losses, augmentations and the stages of both phases."""
