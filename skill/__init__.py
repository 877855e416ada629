"""Offline voice exercise coach for low back and hip pain."""

__version__ = "0.1.0"
