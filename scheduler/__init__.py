"""The nightly run: its steps, its schedule, its lock and its history."""
