"""store layer of stopline."""
