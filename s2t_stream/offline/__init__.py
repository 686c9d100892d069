"""Offline transcription: whole recordings in, text with segment and word times out."""
