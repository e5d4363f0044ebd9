"""emodiffhead: emotional talking heads from one photo and a speech recording.

Layers (each a subpackage or module with one job; the import direction is in docs/architecture.md):

- ``head``      the FLAME-style head model: arrays + pure numpy skinning (``lbs``), providers
                (built-in CC0 head, licensed FLAME files), the camera and mesh geometry.
- ``track``     the expression track format (the one definition used by CLI, server and add-on).
- ``emotion``   the emotion categories and their expression vectors.
- ``gltf``      head (+ track) -> .glb for Blender.
- ``video``     mp4 in and out (PyAV).
- ``audio``, ``animate``  speech -> phonemes -> expression track.
- ``face``, ``render``    photo -> fitted head; track -> frames -> mp4.
- ``diffusion`` the EMOdiffhead diffusion renderer (torch + diffusers only here).
- ``server``    the local job service used by the Blender add-on.
- ``cli``       the ``emodiffhead`` command.
"""

__version__ = "0.1.0"
