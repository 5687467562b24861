"""Small shared helpers: box geometry, devices and seeds, files, plotting."""
