"""web layer of stopline."""
