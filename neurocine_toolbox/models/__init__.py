"""Models: the fMRI encoder, its masked-autoencoder pre-training, checkpoint import."""
