"""services layer of stopline."""
