"""Storage behind the gateway: the backend interface and its implementations."""
