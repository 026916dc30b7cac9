"""Saved web pages: main text as paragraphs, stated metadata only, nothing executable."""

from __future__ import annotations

import pytest

from korea_qa.errors import ExtractionLimit, NoText
from korea_qa.ingest.dispatch import extract_here

MAX = 1_000_000
PARAGRAPHS = [
    "Seoul's subway carried more than seven million riders a day before the pandemic, and the"
    " city is adding new lines to reach its growing suburbs in the years ahead.",
    "Officials say the new Line 10 will open in stages, with the first stations serving the"
    " western districts by the end of the decade, pending funding from the government.",
    "Residents have welcomed the plan although some worry about construction noise near"
    " schools and markets along the route.",
]
HEAD = """<meta charset="utf-8"><title>Seoul expands its subway - Korea Daily</title>
<meta property="og:title" content="Seoul expands its subway">
<meta property="og:site_name" content="Korea Daily">
<meta name="author" content="Lee Ji-eun">
<meta property="article:published_time" content="2024-03-05T09:00:00+09:00">
<link rel="canonical" href="https://koreadaily.example/2024/03/seoul-subway">"""
BODY = f"""
<style>p::after {{ content: "STYLETEXT" }}</style>
<script>var x = "SCRIPTTEXT"; document.write("SCRIPTWRITE");</script>
<nav><ul><li><a href="/">Home MENUITEM</a></li><li><a href="/politics">Politics MENUITEM</a>
</li><li><a href="/sports">Sports MENUITEM</a></li></ul></nav>
<article><h1>Seoul expands its subway</h1>
<p onclick="alert('HANDLER')">{PARAGRAPHS[0]}</p>
<p onmouseover="steal('HANDLER')">{PARAGRAPHS[1]}</p>
<script>alert("INLINESCRIPT")</script><noscript>NOSCRIPTTEXT</noscript>
<p>{PARAGRAPHS[2].replace("plan although", "plan<br>although")}</p>
<div class="share"><a href="#">Share on Facebook SHAREBUTTON</a>
<a href="#">Tweet this SHAREBUTTON</a></div>
</article>
<aside class="related"><h3>Related articles</h3><ul>
<li><a href="/a">Busan port grows RELATEDLINK</a></li>
<li><a href="/b">Daegu heat wave RELATEDLINK</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments</h3><div class="comment">
<p>Great article, COMMENTTEXT, I loved it very much and will share it with my friends.</p>
</div></section>
<footer>Copyright 2024 Korea Daily FOOTERTEXT</footer>"""


def page(head: str = HEAD, body: str = BODY) -> bytes:
    return f"<!DOCTYPE html><html lang='en'><head>{head}</head><body>{body}</body></html>".encode()


def test_main_text_as_paragraphs_and_the_stated_metadata() -> None:
    got = extract_here(page(), "page.html", MAX)
    assert got.text == "\n\n".join(PARAGRAPHS)
    assert (got.format, got.title, got.title_is_descriptive) == (
        "html", "Seoul expands its subway", False)
    assert (got.author, got.published, got.source, got.url) == (
        "Lee Ji-eun", "2024-03-05", "Korea Daily",
        "https://koreadaily.example/2024/03/seoul-subway")
    assert (got.page_starts, got.references, got.doc_id) == ((), (), None)


@pytest.mark.parametrize(
    "noise",
    ["STYLETEXT", "SCRIPTTEXT", "SCRIPTWRITE", "INLINESCRIPT", "NOSCRIPTTEXT", "HANDLER",
     "alert", "onclick", "MENUITEM", "SHAREBUTTON", "RELATEDLINK", "COMMENTTEXT", "FOOTERTEXT",
     "<", ">"],
)
def test_menus_comments_share_related_scripts_and_handlers_never_reach_the_text(
    noise: str,
) -> None:
    assert noise not in extract_here(page(), "page.html", MAX).text


def test_metadata_the_page_does_not_state_stays_none() -> None:
    body = "<article>" + "".join(f"<p>{p}</p>" for p in PARAGRAPHS) + "</article>"
    got = extract_here(page(head='<meta charset="utf-8">', body=body), "page.html", MAX)
    assert got.text == "\n\n".join(PARAGRAPHS)
    assert (got.title, got.author, got.published, got.source, got.url) == (
        None, None, None, None, None)


def test_a_copyright_year_is_not_taken_for_a_publication_date() -> None:
    body = ("<article>" + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
            + "</article><footer>\u00a9 2021 Korea Daily. All rights reserved.</footer>")
    assert extract_here(page(head="<title>T</title>", body=body), None, MAX).published is None


def test_page_declared_in_another_encoding_is_decoded() -> None:
    html = page().decode().replace('charset="utf-8"', 'charset="windows-1252"')
    html = html.replace("Seoul's subway", "Seoul\u2019s caf\u00e9 subway")
    got = extract_here(html.encode("cp1252"), "page.html", MAX)
    assert got.text.startswith("Seoul\u2019s caf\u00e9 subway carried")


def test_a_page_without_article_text_is_no_text() -> None:
    with pytest.raises(NoText, match="no article text was found in the page"):
        extract_here(page(body="<nav><a href='/'>Home</a></nav>"), "page.html", MAX)


def test_100000_nested_divs_hit_the_nesting_depth_limit() -> None:
    deep = "<div>" * 100_000 + "<p>deep</p>" + "</div>" * 100_000
    with pytest.raises(ExtractionLimit) as err:
        extract_here(page(body=deep + BODY), "deep.html", MAX)
    assert err.value.limit == "nesting depth"
    assert "nests elements 256 deep" in str(err.value)


def test_usual_nesting_is_fine() -> None:
    wrapped = "<div>" * 60 + BODY + "</div>" * 60
    assert extract_here(page(body=wrapped), None, MAX).text == "\n\n".join(PARAGRAPHS)


def test_enormous_page_output_over_the_character_limit_names_that_limit() -> None:
    sentence = "Gyeongbokgung palace stands in the north of Seoul. " * 20
    # Distinct paragraphs (trafilatura drops repeated ones): about 2 MB of text.
    body = "<article>" + "".join(f"<p>{i}: {sentence}</p>" for i in range(2000)) + "</article>"
    with pytest.raises(ExtractionLimit) as err:
        extract_here(page(body=body), "big.html", 100_000)
    assert err.value.limit == "characters"
    assert "the limit is 100,000 (KOREA_QA_MAX_EXTRACTED_CHARS)" in str(err.value)


@pytest.mark.parametrize(
    "title",
    ["Seoul expands its subway - Korea Daily", "Korea Daily | Seoul expands its subway",
     "Seoul expands its subway | Transport | Korea Daily"],
)
def test_a_title_that_wraps_the_headline_in_the_site_name_gives_the_headline(title: str) -> None:
    head = f"<title>{title}</title>"
    got = extract_here(page(head=head), "page.html", MAX)
    assert got.title == "Seoul expands its subway"


def test_a_stated_title_unlike_the_headline_is_kept_as_stated() -> None:
    head = '<meta property="og:title" content="Subway: the plan for Line 10">'
    got = extract_here(page(head=head), "page.html", MAX)
    assert got.title == "Subway: the plan for Line 10"


def test_invalid_utf8_in_a_page_is_defused_not_a_crash() -> None:
    html = page().replace(b"Officials say", b"Officials \xff\xfe\xc3 say")
    got = extract_here(html, "page.html", MAX)
    assert got.text.startswith(PARAGRAPHS[0][:40])
    assert "\x00" not in got.text
