"""Settings are a leaf: reading them loads no stage of the project and no heavy library, and
no getter does work (backend auto is resolved by `korea_qa.startup`)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from korea_qa import settings as settings_module
from korea_qa.index.lexical import Bm25Params
from korea_qa.index.vector import AnnKind as VectorAnnKind
from korea_qa.index.vector import AnnParams
from korea_qa.settings import AnnKind, BackendNotResolved, Settings


def test_importing_settings_imports_nothing_of_the_project_nor_faiss_or_torch() -> None:
    probe = ("import json, sys; import korea_qa.settings; "
             "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    loaded = set(json.loads(done.stdout))
    assert sorted(m for m in loaded if m.startswith("korea_qa")) == [
        "korea_qa", "korea_qa.settings"]
    assert not loaded & {"faiss", "torch", "numba", "openvino", "onnxruntime", "numpy"}


def test_settings_py_has_no_project_import_anywhere() -> None:
    """Not even inside a function: dependencies point from the stages to settings only."""
    tree = ast.parse(Path(settings_module.__file__).read_text(encoding="utf-8"))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.level == 0]
    assert not [n for n in names if n.split(".")[0] == "korea_qa"]
    assert not [node for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0]


def test_defaults_shared_with_the_stages_agree() -> None:
    s = Settings()
    assert Bm25Params(k1=s.bm25_k1, b=s.bm25_b) == Bm25Params()
    ann = AnnParams()
    assert (s.ann_min_rows, s.ann_nprobe, s.ann_refine, s.ann_kind) == (
        ann.min_rows, ann.nprobe, ann.refine, ann.kind)
    assert get_args(AnnKind) == get_args(VectorAnnKind)


def test_the_model_is_named_only_once_its_backend_is() -> None:
    with pytest.raises(BackendNotResolved, match="start-up"):
        Settings(backend="auto").model_id()
    assert Settings(backend="openvino-int8").model_id().endswith("@openvino-int8")
    assert Settings(model="hash:64").model_id() == "hash:64"
