"""Training UB-Diff: step 1 (encoder + velocity decoder), step 2 (seismic decoder), step 3 (latent diffusion)."""
