"""The owners' workspace: where chapter owners work the paragraphs routed to them."""
