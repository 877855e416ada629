"""Read any PCM WAV file as 16 kHz (or another rate) int16 mono, with clear errors."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

TARGET_RATE = 16000


class AudioFileError(Exception):
    """The file cannot be used as speech input; the message says why, for a person."""


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample float mono audio with the capture path's windowed-sinc resampler, so a WAV
    file and the microphone reach the recogniser alike (the earlier linear interpolation
    with a moving-average low-pass dulled 22 kHz espeak speech and cost recognition)."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples
    from ..audio.capture import resample as sinc_resample
    return sinc_resample(samples, src_rate, dst_rate)


def decode_pcm(raw: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved PCM bytes → float mono samples scaled to the int16 range."""
    if width == 1:  # 8-bit WAV is unsigned
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        data = v.astype(np.float64) / 256.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    else:
        raise AudioFileError(f"unsupported sample width: {width * 8} bits")
    if channels > 1:
        usable = len(data) - len(data) % channels
        data = data[:usable].reshape(-1, channels).mean(axis=1)
    return data


def to_int16_bytes(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def _read_riff(path: Path) -> tuple[int, int, int, bytes]:
    """Minimal RIFF/WAVE reader for what Python 3.11's wave module refuses:
    WAVE_FORMAT_EXTENSIBLE (sox and arecord write it for 24-bit or multichannel PCM)."""
    import struct

    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: not a RIFF WAVE file")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None or len(fmt) < 16:
        raise AudioFileError(f"{path}: WAV file without fmt or data chunk")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # sub-format GUID starts with the tag
    if tag != 1:
        raise AudioFileError(f"{path}: compressed WAV (format {tag}); only PCM is supported")
    width = (bits + 7) // 8
    return rate, width, channels, pcm[:len(pcm) - len(pcm) % (width * channels)]


def read_wav(path: str | Path, rate: int = TARGET_RATE) -> bytes:
    """Return the file's audio as int16 little-endian mono PCM at `rate`.

    Raises AudioFileError with a readable reason for missing, unreadable, non-WAV,
    compressed or empty files.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            src_rate = w.getframerate()
            width = w.getsampwidth()
            channels = w.getnchannels()
            raw = w.readframes(w.getnframes())
    except FileNotFoundError:
        raise AudioFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AudioFileError(f"{path}: is a directory, not a WAV file") from None
    except PermissionError:
        raise AudioFileError(f"{path}: permission denied") from None
    except wave.Error as e:
        if "unknown format" not in str(e):
            raise AudioFileError(f"{path}: not a readable PCM WAV file ({e})") from None
        src_rate, width, channels, raw = _read_riff(path)
    except EOFError as e:
        raise AudioFileError(f"{path}: not a readable PCM WAV file ({e or 'truncated'})") from None
    except OSError as e:
        raise AudioFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if src_rate < 4000 or src_rate > 192000:
        raise AudioFileError(f"{path}: implausible sample rate {src_rate} Hz")
    if channels < 1:
        raise AudioFileError(f"{path}: no audio channels")
    if not raw:
        raise AudioFileError(f"{path}: contains no audio")
    samples = decode_pcm(raw, width, channels)
    return to_int16_bytes(resample(samples, src_rate, rate))
