"""The reliability suite of issue 6: `python -m reliability` (see reliability/__main__.py)."""
