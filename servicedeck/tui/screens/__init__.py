"""The console's modal screens: help and quit progress."""
