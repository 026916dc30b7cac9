"""The embedding model: loading it, its inference backends (export, measure, choose), its
inputs, batching and CPU threads."""
