"""stopline web: twilio."""
