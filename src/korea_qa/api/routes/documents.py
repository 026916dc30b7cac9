"""/api/documents: the articles, so any client can check a citation against the text."""

from __future__ import annotations

from fastapi import APIRouter

from korea_qa.api.schemas import Document, DocumentList, DocumentSummary, ErrorResponse
from korea_qa.api.state import StateDep
from korea_qa.errors import DocumentNotFound
from korea_qa.index import LoadedIndex

router = APIRouter(prefix="/api/documents", tags=["documents"])


def _summary(index: LoadedIndex, doc_id: str) -> dict[str, object]:
    article = index.articles[doc_id]
    return {**article.metadata(), "passages": index.passage_count(doc_id),
            "characters": len(article.text)}


@router.get("", response_model=DocumentList,
            responses={503: {"model": ErrorResponse, "description": "Index not loaded."}})
async def list_documents(state: StateDep) -> DocumentList:
    """List the articles with their metadata and passage counts."""
    index = state.ready_searcher().index
    return DocumentList(documents=[DocumentSummary.model_validate(_summary(index, d))
                                   for d in index.articles])


@router.get("/{doc_id}", response_model=Document,
            responses={404: {"model": ErrorResponse, "description": "Unknown document."},
                       503: {"model": ErrorResponse, "description": "Index not loaded."}})
async def get_document(doc_id: str, state: StateDep) -> Document:
    """One article: metadata and full text (citations are offsets into `text`)."""
    index = state.ready_searcher().index
    if doc_id not in index.articles:
        raise DocumentNotFound(doc_id)
    return Document.model_validate({**_summary(index, doc_id),
                                    "text": index.articles[doc_id].text})
