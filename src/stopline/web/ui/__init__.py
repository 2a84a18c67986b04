"""stopline web: ui."""
