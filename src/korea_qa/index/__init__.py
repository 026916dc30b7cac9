"""One segment's retrievers: BM25 over term counts (and its compiled top n), vectors (exact or
IVF), and the top-n cut both share."""
