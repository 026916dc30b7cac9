"""korea-qa: retrieval question answering over articles about Korea, with exact citations."""

__version__ = "0.1.0"
