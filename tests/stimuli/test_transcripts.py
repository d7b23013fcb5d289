import pandas as pd
import pytest

from brainalign.stimuli.transcripts import TranscriptError, read_transcript, word_rows


def write(path, rows):
    pd.DataFrame(rows, columns=["text_per_tr", "words_per_tr", "onsets_per_tr", "durations_per_tr"]).to_csv(
        path, sep="\t", index=False)
    return path


def test_words_with_onsets(tmp_path):
    p = write(tmp_path / "t.tsv", [
        ["", "[]", "[]", "[]"],
        ["hey there", "['hey', 'there']", "[1.6, 2.0]", "[0.3, 0.4]"],
        ["", "", "", ""],
        ["you", "['you']", "[4.5]", "[0.2]"],
    ])
    words = read_transcript(p)
    assert words.word.tolist() == ["hey", "there", "you"]
    assert words.tr.tolist() == [1, 1, 3]
    rows = word_rows(words, "s01e01a", "train", max_time=4.47)
    assert rows.stimulus_id.tolist() == ["s01e01a_w00000", "s01e01a_w00001"]
    assert rows.text.tolist() == ["hey", "there"] and set(rows.modality) == {"word"}
    assert rows.onset.tolist() == pytest.approx([1.6, 2.0])


def test_bad_transcripts(tmp_path):
    with pytest.raises(TranscriptError, match="missing columns.*onsets_per_tr"):
        read_transcript(pd.DataFrame({"text_per_tr": ["a"], "words_per_tr": ["['a']"]})
                        .to_csv(tmp_path / "a.tsv", sep="\t", index=False) or tmp_path / "a.tsv")
    p = write(tmp_path / "b.tsv", [["a b", "['a', 'b']", "[1.0]", "[0.1, 0.1]"]])
    with pytest.raises(TranscriptError, match="row 0 has 2 words, 1 onsets"):
        read_transcript(p)
    with pytest.raises(TranscriptError, match="not found"):
        read_transcript(tmp_path / "none.tsv")
