"""providers layer of stopline."""
