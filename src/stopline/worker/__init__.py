"""worker layer of stopline."""
