"""Notify: alerts chapter owners about the paragraphs routed to them."""
