"""Tests for the file-format layer of opt-out import and export."""
