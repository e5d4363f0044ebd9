"""Faces in photos and videos: detection gate + landmarks (``detect``), head fitting (``fit``),
expression extraction from video (``extract``) and the optional DECA extractor (``deca``)."""
