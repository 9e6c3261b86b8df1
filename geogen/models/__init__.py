"""UB-Diff networks: velocity encoder, heads, decoders, latent diffusion, and the UBDiff wrapper."""
