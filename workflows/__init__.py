"""Temporal workflows: one ``Conversation`` workflow per customer conversation."""
