"""Audio in: decoding (``io``), speech -> phones (``phonemes``), energy/pitch/spectral features (``prosody``)."""

from .io import AudioClip, check_speech_present, load_audio

__all__ = ["AudioClip", "load_audio", "check_speech_present"]
