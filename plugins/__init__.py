"""Hooks that deliver invitations, and the built-in deliverers."""
