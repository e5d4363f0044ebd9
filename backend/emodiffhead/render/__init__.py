"""Rendering: the z-buffer rasteriser (``raster``) and the video renderers built on it."""
