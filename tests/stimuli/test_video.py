import numpy as np
import pytest
from media import encode_movie

from brainalign.stimuli import video


def test_frames_sampled_at_rate_show_the_frame_on_screen(movie):
    frames = list(video.iter_frames(movie, frame_rate=4))
    times = [t for t, _ in frames]
    assert times == pytest.approx(np.arange(16) / 4)
    # frame k of the encoded movie (10 fps) has grey level 6k; at t the frame on screen is floor(10 t)
    levels = np.array([img.mean() for _, img in frames])
    expected = np.array([6 * np.floor(10 * t + 1e-9) for t in times])
    assert np.abs(levels - expected).max() < 4


def test_audio_resampled_to_requested_rate(movie):
    audio = video.decode_audio(movie, rate=16000)
    assert abs(len(audio) / 16000 - 4.0) < 0.1
    spectrum = np.abs(np.fft.rfft(audio[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 2  # 1 Hz bins over 1 s


def test_cut_movie_into_tr_windows(movie, tmp_path):
    rows = video.cut_movie(movie, "run1", 1.49, tmp_path / "stimuli", tmp_path, "test",
                           frame_rate=4, audio_rate=8000, frame_short_side=24)
    clips = rows[rows.modality == "clip"]
    assert list(clips.stimulus_id) == ["run1_tr0", "run1_tr1"]
    assert clips.onset.tolist() == pytest.approx([0, 1.49])
    frames = rows[rows.modality == "frame"]
    assert frames.onset.max() < 2 * 1.49 and len(frames) == 12
    img = __import__("PIL.Image").Image.open(tmp_path / frames.path.iloc[0])
    assert min(img.size) == 24
    wav = rows[rows.modality == "audio"]
    a, rate = video.read_wav(tmp_path / wav.path.iloc[1])
    assert rate == 8000 and len(a) == round(1.49 * 8000)
    assert set(rows.split) == {"test"} and set(rows.run) == {"run1"}
    # no file left behind beyond the table's
    on_disk = {str(p.relative_to(tmp_path)) for p in (tmp_path / "stimuli").iterdir()}
    assert on_disk == set(rows.path[rows.path != ""])


def test_requested_trs_beyond_movie_is_an_error(movie, tmp_path):
    with pytest.raises(video.VideoDecodeError, match="run1.*10 TRs requested"):
        video.cut_movie(movie, "run1", 1.0, tmp_path / "s", tmp_path, "train", frame_rate=2, n_trs=10)


def test_movie_without_audio_gives_clips_only(tmp_path):
    path = encode_movie(tmp_path / "silent.mp4", seconds=2.0, audio=False)
    rows = video.cut_movie(path, "r", 1.0, tmp_path / "s", tmp_path, "train", frame_rate=1)
    assert set(rows.modality) == {"frame", "clip"} and (rows.modality == "clip").sum() == 2


def test_undecodable_and_truncated_files_fail_clearly(movie, tmp_path):
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"not a movie at all" * 100)
    with pytest.raises(video.VideoDecodeError, match="bad.mkv"):
        video.cut_movie(bad, "r", 1.0, tmp_path / "s", tmp_path, "train", frame_rate=1)
    with pytest.raises(video.VideoDecodeError, match="not found"):
        list(video.iter_frames(tmp_path / "missing.mkv", 1))
    long = encode_movie(tmp_path / "long.mkv", seconds=8.0)
    data = long.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(video.VideoDecodeError, match="truncated|cannot decode"):
        video.cut_movie(cut, "r", 1.0, tmp_path / "s2", tmp_path, "train", frame_rate=1)
