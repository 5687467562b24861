"""Small shared helpers: box geometry, devices and seeds, files, plotting."""

__all__: list[str] = []
