"""Widgets of the main window, one responsibility per module."""
