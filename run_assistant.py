#!/usr/bin/env python3
"""The one entry point: `python run_assistant.py --help`."""
import sys

from skill.cli import main

if __name__ == "__main__":
    sys.exit(main())
