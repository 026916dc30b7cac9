from korea_qa.analysis.tokenize import STOPWORDS, tokenize


def test_lowercases_stems_and_drops_stopwords() -> None:
    assert tokenize("The Sanctions were imposed on the workers") == [
        "sanction", "were", "impos", "worker"]


def test_possessives_hyphens_and_curly_apostrophes() -> None:
    assert tokenize("Russia’s Russia-Japan relationships") == ["russia", "russia", "japan",
                                                                "relationship"]
    # A listed alias is one term (korea_qa.analysis.aliases; the list in aliases.txt).
    assert tokenize("Russia’s Russia-DPRK relationships") == ["russia", "russia", "north_korea",
                                                               "relationship"]


def test_only_stopwords_or_punctuation_gives_no_tokens() -> None:
    assert tokenize("the of and to in it") == []
    assert tokenize("?!… — ...") == []
    assert "the" in STOPWORDS


def test_unicode_is_normalised_and_non_latin_words_kept() -> None:
    assert tokenize("ｆｕｌｌｗｉｄｔｈ Korea") == ["fullwidth", "korea"]
    assert tokenize("북한 핵") == ["북한"]
