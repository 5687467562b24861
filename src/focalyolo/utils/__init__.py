"""Small shared helpers: box geometry (axis-aligned and rotated), devices and seeds, files, plotting."""

__all__: list[str] = []
