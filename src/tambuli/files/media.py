"""Audio conversion and video checks with PyAV (FFmpeg's libraries, bundled in its wheels)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.error
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.video.frame import VideoFrame

from tambuli.errors import InvalidFile
from tambuli.files.models import AudioFilter, VideoLimits
from tambuli.files.sniffing import Kind

# EBU R128-style targets for spoken prompts: -16 LUFS integrated, -1.5 dBTP peak.
LOUDNESS_TARGET = "I=-16:TP=-1.5:LRA=11"
# Seconds into a video where the thumbnail is taken (or the first frame, if it is shorter).
THUMBNAIL_AT_SECONDS = 0.5
THUMBNAIL_MAX_WIDTH = 320
# What PyAV raises for media it cannot read or write.
_MEDIA_ERRORS = (av.error.FFmpegError, ValueError, IndexError, EOFError, OSError)


@dataclass(frozen=True, slots=True)
class _Target:
    """The container, encoder and sample rate a conversion writes (None: keep the rate)."""

    container: str
    codec: str
    rate: int | None
    kind: Kind


_OGG = _Target("ogg", "libopus", 48_000, Kind("audio/ogg", "ogg"))
# LAME's rates are the MPEG ones; 44.1 kHz plays everywhere.
_MP3 = _Target("mp3", "libmp3lame", 44_100, Kind("audio/mpeg", "mp3"))
_WAV = _Target("wav", "pcm_s16le", None, Kind("audio/wav", "wav"))
_FLAC = _Target("flac", "flac", None, Kind("audio/flac", "flac"))
_M4A = _Target("ipod", "aac", None, Kind("audio/mp4", "m4a"))
# mono and norm keep the file's format where it is one of these; anything else becomes Ogg Opus.
_SAME_FORMAT = {"wav": _WAV, "mp3": _MP3, "ogg": _OGG, "flac": _FLAC, "m4a": _M4A}


def convert_audio(data: bytes, kind: Kind, audio_filter: AudioFilter) -> tuple[bytes, Kind]:
    """The audio converted as the filter says, and what it now is; InvalidFile if unreadable."""
    target = {AudioFilter.OGG: _OGG, AudioFilter.MP3: _MP3}.get(
        audio_filter, _SAME_FORMAT.get(kind.extension, _OGG)
    )
    try:
        with av.open(io.BytesIO(data), "r") as source:
            if not source.streams.audio:
                raise InvalidFile(f"filter={audio_filter}: the file has no audio")
            converted = _encode_audio(source, source.streams.audio[0], target, audio_filter)
    except _MEDIA_ERRORS as exc:
        raise InvalidFile(f"filter={audio_filter}: the audio cannot be converted ({exc})") from exc
    return converted, target.kind


def _encode_audio(
    source: InputContainer, stream: AudioStream, target: _Target, audio_filter: AudioFilter
) -> bytes:
    channels = 1 if audio_filter is AudioFilter.MONO else min(stream.channels or 1, 2)
    layout = "mono" if channels == 1 else "stereo"
    rate = target.rate or stream.rate or 44_100
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=target.container) as sink:
        out = sink.add_stream(target.codec, rate=rate, layout=layout)
        if not isinstance(out, AudioStream):
            raise InvalidFile(f"{target.codec} is not an audio encoder")
        graph = av.filter.Graph()
        chain = [graph.add_abuffer(template=stream)]
        if audio_filter is AudioFilter.NORM:
            chain.append(graph.add("loudnorm", LOUDNESS_TARGET))
        chain.append(graph.add("aresample", str(rate)))
        sample_format = out.codec_context.format.name if out.codec_context.format else "s16"
        chain.append(
            graph.add(
                "aformat",
                f"sample_fmts={sample_format}:channel_layouts={layout}:sample_rates={rate}",
            )
        )
        chain.append(graph.add("abuffersink"))
        graph.link_nodes(*chain).configure()
        if out.codec_context.frame_size:
            graph.set_audio_frame_size(out.codec_context.frame_size)
        for frame in source.decode(stream):
            graph.push(frame)
            _write_frames(sink, out, _pull_frames(graph))
        graph.push(None)
        _write_frames(sink, out, _pull_frames(graph))
        sink.mux(out.encode(None))
    return buffer.getvalue()


def _pull_frames(graph: av.filter.Graph) -> Iterator[AudioFrame]:
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        if isinstance(frame, AudioFrame):
            # The encoder numbers the frames itself; the filters' numbering may have gaps.
            frame.pts = None
            yield frame


def _write_frames(sink: OutputContainer, out: AudioStream, frames: Iterator[AudioFrame]) -> None:
    for frame in frames:
        sink.mux(out.encode(frame))


def check_video(data: bytes, limits: VideoLimits) -> bytes:
    """The JPEG thumbnail of a video WhatsApp accepts; InvalidFile naming the limit broken."""
    if len(data) >= limits.max_bytes:
        raise InvalidFile(f"video: the file must be smaller than {limits.max_bytes} bytes")
    try:
        with av.open(io.BytesIO(data), "r") as source:
            _check_streams(source, limits)
            return _thumbnail_of(source)
    except _MEDIA_ERRORS as exc:
        raise InvalidFile(f"video: the file cannot be read as a video ({exc})") from exc


def _check_streams(source: InputContainer, limits: VideoLimits) -> None:
    videos = source.streams.video
    if not videos or videos[0].codec_context.name != limits.video_codec:
        found = videos[0].codec_context.name if videos else "none"
        raise InvalidFile(f"video: the video must be H.264 (found {found})")
    audios = source.streams.audio
    if not audios or audios[0].codec_context.name != limits.audio_codec:
        found = audios[0].codec_context.name if audios else "none"
        raise InvalidFile(f"video: the audio must be AAC (found {found})")
    seconds = _duration_seconds(source)
    if seconds < limits.min_seconds:
        raise InvalidFile(
            f"video: the video must be at least {limits.min_seconds:g} second long"
            f" (it is {seconds:.2f})"
        )


def _duration_seconds(source: InputContainer) -> float:
    if source.duration is not None:
        return float(source.duration) / av.time_base
    stream = source.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def _thumbnail_of(source: InputContainer) -> bytes:
    stream = source.streams.video[0]
    chosen: VideoFrame | None = None
    for frame in source.decode(stream):
        chosen = frame
        if frame.time is not None and frame.time >= THUMBNAIL_AT_SECONDS:
            break
    if chosen is None:
        raise InvalidFile("video: the video has no frames")
    return _encode_jpeg(chosen)


def _encode_jpeg(frame: VideoFrame) -> bytes:
    width = min(frame.width, THUMBNAIL_MAX_WIDTH)
    # Even sizes, as 4:2:0 chroma needs.
    height = max(2, round(frame.height * width / frame.width) // 2 * 2)
    width = max(2, width // 2 * 2)
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    picture.pts = 0
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mjpeg") as sink:
        out = sink.add_stream("mjpeg", rate=1)
        out.width = width
        out.height = height
        out.pix_fmt = "yuvj420p"
        sink.mux(out.encode(picture))
        sink.mux(out.encode(None))
    return buffer.getvalue()
