"""The shared inbox: contacts, conversations, messages and replies (issue 4)."""
