"""What was done, kept: a local SQLite history of sessions, exercises, pain and settings."""
from .queries import (ExerciseProgress, HistoryReader, Interrupted, PainTrend, Progress,
                      Progression)
from .store import (SCHEMA_VERSION, HistoryStore, HistoryUnavailable, HistoryWriteFailed,
                    default_data_dir, forget, open_reader)

__all__ = [
    "ExerciseProgress", "HistoryReader", "HistoryStore", "HistoryUnavailable",
    "HistoryWriteFailed", "Interrupted", "PainTrend", "Progress", "Progression",
    "SCHEMA_VERSION", "default_data_dir", "forget", "open_reader",
]
