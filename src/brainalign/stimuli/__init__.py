"""Stimulus preparation: video/audio decoding into TR windows, transcripts."""
