"""Ranking: each retriever's candidates, sentence evidence and fusion, as one record."""
