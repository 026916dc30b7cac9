"""korea-qa past one machine: Ray Data ingest and Ray Serve replicas (the `scale` extra)."""
