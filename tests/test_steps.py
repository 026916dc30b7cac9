"""A first start's steps: one line each, what is done and then how long it took."""

from __future__ import annotations

import io
import logging
import re
import threading

import pytest

from korea_qa.util.steps import say, step


def test_a_step_is_one_line_ending_with_its_seconds() -> None:
    out = io.StringIO()
    with step("exporting the model to ONNX (once)", out):
        pass
    assert re.fullmatch(r"korea-qa: exporting the model to ONNX \(once\) \.\.\. \d+\.\d s\n",
                        out.getvalue())


def test_a_log_record_in_between_ends_the_line_and_the_time_names_the_step(
        caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logging.getLogger().addHandler(handler)
    try:
        with step("building the index", out):
            logging.getLogger("korea_qa.library").warning("indexed 2 of 2 articles")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0] == "korea-qa: building the index ... "
    assert lines[1] == "indexed 2 of 2 articles"
    assert re.fullmatch(r"korea-qa: building the index: \d+\.\d s", lines[2])


def test_a_step_within_a_step_and_a_failed_step_still_say_their_time() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), step("loading the model", out):
        with step("calibrating int8", out):
            say("backend auto: openvino-int8", out)
        raise RuntimeError("broken")
    lines = out.getvalue().splitlines()
    assert lines[0] == "korea-qa: loading the model ... "
    assert lines[1] == "korea-qa: calibrating int8 ... "
    assert lines[2] == "korea-qa: backend auto: openvino-int8"
    assert re.fullmatch(r"korea-qa: calibrating int8: \d+\.\d s", lines[3])
    assert re.fullmatch(r"korea-qa: loading the model: \d+\.\d s", lines[4])


def test_in_a_background_thread_a_step_is_logged_at_its_start_and_end(
        caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()

    def background() -> None:
        with step("re-embedding the corpus", out):
            pass

    with caplog.at_level(logging.INFO, logger="korea_qa.steps"):
        thread = threading.Thread(target=background)
        thread.start()
        thread.join(timeout=30)
    assert out.getvalue() == ""
    messages = [r.getMessage() for r in caplog.records if r.name == "korea_qa.steps"]
    assert messages[0] == "re-embedding the corpus ..."
    assert re.fullmatch(r"re-embedding the corpus: \d+\.\d s", messages[1])
