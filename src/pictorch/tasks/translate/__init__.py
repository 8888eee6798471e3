"""Image-to-image translation: pix2pix (paired, conditional GAN + L1) and CycleGAN (unpaired, cycle-consistent)."""
