"""Media the Files tests make for themselves: a tone as WAV, a tiny H.264/AAC clip (PyAV), a
small PNG picture."""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

TONE_HZ = 440


def tone_wav(seconds: float = 2.0, rate: int = 8000, channels: int = 2, level: int = 8000) -> bytes:
    """A sine tone as 16-bit PCM WAV."""
    samples = bytearray()
    for index in range(int(seconds * rate)):
        value = int(level * math.sin(2 * math.pi * TONE_HZ * index / rate))
        samples += struct.pack("<h", value) * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sink:
        sink.setnchannels(channels)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(bytes(samples))
    return buffer.getvalue()


def video_clip(
    seconds: float = 1.5, video_codec: str = "libx264", audio_codec: str = "aac"
) -> bytes:
    """A 64 by 48 MP4 clip of changing colour with a tone, encoded as asked."""
    fps = 10
    rate = 44_100
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as sink:
        picture = sink.add_stream(video_codec, rate=fps)
        assert isinstance(picture, VideoStream)
        picture.width = 64
        picture.height = 48
        picture.pix_fmt = "yuv420p"
        sound = sink.add_stream(audio_codec, rate=rate, layout="mono")
        assert isinstance(sound, AudioStream)
        for index in range(int(seconds * fps)):
            frame = av.VideoFrame(64, 48, "rgb24")
            frame.planes[0].update(bytes([(index * 20) % 256, 100, 200] * 64 * 48))
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            sink.mux(picture.encode(frame))
        sink.mux(picture.encode(None))
        total = int(seconds * rate)
        done = 0
        while done < total:
            count = min(1024, total - done)
            chunk = av.AudioFrame(format="s16", layout="mono", samples=count)
            pcm = b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * TONE_HZ * (done + i) / rate)))
                for i in range(count)
            )
            chunk.planes[0].update(pcm + bytes(chunk.planes[0].buffer_size - len(pcm)))
            chunk.rate = rate
            chunk.pts = done
            done += count
            sink.mux(sound.encode(chunk))
        sink.mux(sound.encode(None))
    return buffer.getvalue()


def describe_audio(data: bytes) -> tuple[str, str, int, int, float]:
    """(container, codec, channels, sample rate, seconds) of an audio file."""
    with av.open(io.BytesIO(data), "r") as source:
        stream = source.streams.audio[0]
        seconds = float(source.duration or 0) / av.time_base
        return source.format.name, stream.codec_context.name, stream.channels, stream.rate, seconds


def loudness_peak(data: bytes) -> float:
    """The largest absolute sample of an audio file, from 0 to 1."""
    peak = 0.0
    resampler = av.AudioResampler(format="flt", layout="mono")
    with av.open(io.BytesIO(data), "r") as source:
        for frame in source.decode(source.streams.audio[0]):
            for converted in resampler.resample(frame):
                raw = bytes(converted.planes[0])[: 4 * converted.samples]
                values = struct.unpack(f"<{converted.samples}f", raw)
                peak = max(peak, *(abs(v) for v in values))
    return peak


def picture_png(width: int = 96, height: int = 64) -> bytes:
    """An RGB PNG of colour bands (green, white, blue): a real image a browser draws."""
    bands = [(0x1E, 0x7B, 0x3C), (0xFF, 0xFF, 0xFF), (0x0B, 0x5C, 0xAD)]
    rows = b"".join(b"\x00" + bytes(bands[min(2, 3 * y // height)]) * width for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
