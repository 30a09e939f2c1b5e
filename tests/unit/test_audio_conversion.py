"""Audio conversion with PyAV: formats kept or changed as each filter says, loudness evened."""

from __future__ import annotations

import pytest

from tambuli.errors import InvalidFile
from tambuli.files.models import AudioFilter, Upload
from tambuli.files.service import prepare_file
from tests.support.media import describe_audio, loudness_peak, tone_wav

LIMIT = 1 << 24


def _converted(name: str, data: bytes, audio_filter: AudioFilter) -> tuple[str, bytes]:
    prepared = prepare_file(Upload(name, data), "c", audio_filter, False, LIMIT)
    return prepared.extension, prepared.content


@pytest.mark.parametrize("source_filter", [AudioFilter.OGG, AudioFilter.MP3])
@pytest.mark.parametrize("audio_filter", [AudioFilter.MONO, AudioFilter.NORM])
def test_mono_and_norm_keep_the_format_of_the_upload(
    source_filter: AudioFilter, audio_filter: AudioFilter
) -> None:
    extension, source = _converted("tone.wav", tone_wav(channels=2), source_filter)
    kept_extension, converted = _converted(f"tone.{extension}", source, audio_filter)
    assert kept_extension == extension
    before = describe_audio(source)
    after = describe_audio(converted)
    assert after[:2] == before[:2]
    assert after[2] == (1 if audio_filter is AudioFilter.MONO else 2)
    assert abs(after[4] - before[4]) < 0.1


def test_loudness_normalisation_brings_quiet_and_loud_tones_together() -> None:
    quiet = tone_wav(level=800)
    loud = tone_wav(level=20_000)
    assert loudness_peak(loud) > 10 * loudness_peak(quiet)
    quiet_after = loudness_peak(_converted("q.wav", quiet, AudioFilter.NORM)[1])
    loud_after = loudness_peak(_converted("l.wav", loud, AudioFilter.NORM)[1])
    assert abs(quiet_after - loud_after) < 0.05


def test_a_file_that_only_looks_like_audio_is_refused_with_a_reason() -> None:
    with pytest.raises(InvalidFile, match="cannot be converted"):
        _converted("fake.mp3", b"ID3" + b"\x00" * 500, AudioFilter.OGG)
