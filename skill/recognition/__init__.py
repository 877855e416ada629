"""Offline speech recognition constrained to the phrases valid in a dialog context."""
