"""The passage store on Milvus (`KOREA_QA_STORE=milvus`; the `scale` extra)."""
