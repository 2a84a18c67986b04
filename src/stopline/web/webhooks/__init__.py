"""stopline web: webhooks."""
