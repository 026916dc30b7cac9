"""The articles: their files (the corpus folder), chunking, metadata, and their lifecycle in the
index (add, replace, remove, sync, bulk)."""
