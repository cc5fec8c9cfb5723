"""Signal helpers and quality metrics of encodec-eval (numpy + scipy only).

The metrics follow the definitions of the team's evaluation in ../shared/TRAINING-DATA.md
("Metrics used by the team's evaluation"), so numbers compare with the Opus table there:

- mel distance: mean over FFT sizes 512/1024/2048 (scaled with the sample rate relative to
  24 kHz), hop n_fft/4, Hann window, 80 mel bands (HTK formula, 0 to sr/2), L1 of
  log10(mel power + 1e-5), averaged over bands, frames and channels. Lower is better.
- SI-SDR in dB, zero-mean, after integer-sample alignment by cross-correlation.

What the definition leaves open:
- Scale of the spectrum: the STFT is divided by the sum of the window (the default scaling of
  scipy.signal.stft), so a full-scale sine has amplitude 1/2 in its bin. This is the scale that
  reproduces the Opus table of TRAINING-DATA.md (mel 0.075/0.033/0.016 for speech and
  0.093/0.039/0.021 for music at 6/12/24 kbps, 0.070/0.042/0.028 at 48 kHz stereo). Without it
  (as in the trainer's MelDistance in tools/train/train.py, an unnormalised torch.stft) the
  1e-5 floor sits relatively lower and distances come out about 10 times larger.
- Framing as in the trainer: periodic Hann window, frames centred with reflect padding of
  n_fft/2 on each side; power |X|^2; triangular filters on the n_fft/2+1 linear frequency grid
  from 0 to sr/2, peak 1, no area normalisation.

Signals are float arrays shaped [channels, samples].
"""
import math

import numpy as np
from scipy import signal as sps

MEL_BASE_FFT_SIZES = (512, 1024, 2048)
MEL_BANDS = 80
MEL_FLOOR = 1e-5


# ---- signals --------------------------------------------------------------------------------

def as_planar(x):
    """1-D mono or [channels, samples] -> float64 [channels, samples]."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError("signal must be 1-D or [channels, samples]")
    return x


def pcm_to_float(data):
    """Samples as read by scipy.io.wavfile ([samples] or [samples, channels], any dtype) ->
    float64 [channels, samples] in [-1, 1)."""
    a = np.asarray(data)
    if a.dtype == np.uint8:
        f = (a.astype(np.float64) - 128.0) / 128.0
    elif a.dtype.kind == "i":
        f = a.astype(np.float64) / float(2 ** (8 * a.dtype.itemsize - 1))
    elif a.dtype.kind == "f":
        f = a.astype(np.float64)
    else:
        raise ValueError(f"unsupported sample type {a.dtype}")
    return f[None, :] if f.ndim == 1 else f.T.copy()


def mix_channels(x, channels):
    """Mix [c, n] to `channels` the way the encodec CLI does: the mean over channels for mono,
    mono repeated for stereo; other layouts are refused, as the CLI refuses them."""
    x = as_planar(x)
    c = x.shape[0]
    if c == channels:
        return x
    if channels == 1:
        return x.mean(axis=0, keepdims=True)
    if c == 1 and channels == 2:
        return np.repeat(x, 2, axis=0)
    raise ValueError(f"cannot convert {c} channels to the model's {channels}")


def resample(x, rate_in, rate_out):
    """Resample [c, n] with scipy.signal.resample_poly (polyphase, Kaiser-windowed FIR)."""
    x = as_planar(x)
    if rate_in == rate_out:
        return x
    g = math.gcd(int(rate_in), int(rate_out))
    return sps.resample_poly(x, int(rate_out) // g, int(rate_in) // g, axis=1)


def to_reference(x, rate_in, rate_out, channels):
    """The signal the codec is meant to reproduce: mixed to `channels`, resampled to rate_out."""
    return resample(mix_channels(x, channels), rate_in, rate_out)


def align_lengths(ref, out):
    """Trim both [c, n] signals to their common length."""
    n = min(ref.shape[1], out.shape[1])
    return ref[:, :n], out[:, :n]


# ---- mel distance ---------------------------------------------------------------------------

def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_fft, sr, n_mels=MEL_BANDS):
    """Triangular HTK-mel filters [n_mels, n_fft//2 + 1] spanning 0..sr/2, peak 1."""
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sr / 2.0), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    falling = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def power_spectrogram(x, n_fft):
    """|STFT|^2 of [c, n]: periodic Hann, hop n_fft/4, centred frames (reflect padding), the
    transform divided by the window sum. Returns [c, n_fft//2 + 1, frames]."""
    x = as_planar(x)
    hop = n_fft // 4
    pad = n_fft // 2
    xp = np.pad(x, ((0, 0), (pad, pad)), mode="reflect")
    if xp.shape[1] < n_fft:
        xp = np.pad(xp, ((0, 0), (0, n_fft - xp.shape[1])))
    n_frames = 1 + (xp.shape[1] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    window = sps.get_window("hann", n_fft, fftbins=True)
    spec = np.fft.rfft(xp[:, idx] * (window / window.sum()), axis=-1)  # [c, frames, bins]
    return np.transpose(spec.real ** 2 + spec.imag ** 2, (0, 2, 1))


def mel_fft_sizes(sr):
    """FFT sizes of the mel distance at rate sr (512/1024/2048 at 24 kHz)."""
    return tuple(max(16, int(round(n * sr / 24000.0))) for n in MEL_BASE_FFT_SIZES)


def mel_distance(ref, out, sr):
    """Mel distance between [c, n] signals of the same shape (TRAINING-DATA.md). Lower is
    better; 0 for identical signals."""
    ref, out = as_planar(ref), as_planar(out)
    if ref.shape != out.shape:
        raise ValueError(f"mel_distance: shapes differ {ref.shape} vs {out.shape}")
    total = 0.0
    sizes = mel_fft_sizes(sr)
    for n_fft in sizes:
        fb = mel_filterbank(n_fft, sr)
        m_ref = np.einsum("mf,cft->cmt", fb, power_spectrogram(ref, n_fft))
        m_out = np.einsum("mf,cft->cmt", fb, power_spectrogram(out, n_fft))
        total += float(np.mean(np.abs(np.log10(m_out + MEL_FLOOR) - np.log10(m_ref + MEL_FLOOR))))
    return total / len(sizes)


# ---- SI-SDR ---------------------------------------------------------------------------------

def best_lag(ref, out, max_lag):
    """Integer lag L (|L| <= max_lag) maximising |cross-correlation| of the channel means, with
    out[n] ~ ref[n - L] (positive: the output is late)."""
    r = as_planar(ref).mean(axis=0)
    o = as_planar(out).mean(axis=0)
    if max_lag <= 0 or not np.any(r) or not np.any(o):
        return 0
    corr = sps.correlate(o, r, mode="full", method="fft")
    lags = sps.correlation_lags(len(o), len(r), mode="full")
    keep = np.abs(lags) <= max_lag
    lags, corr = lags[keep], np.abs(corr[keep])
    best = np.flatnonzero(corr >= corr.max() * (1 - 1e-12))
    return int(lags[best[np.argmin(np.abs(lags[best]))]])  # ties: the smallest shift


def shift_pair(ref, out, lag):
    """Overlapping parts of ref and out once out is moved back by lag samples."""
    n = min(ref.shape[1], out.shape[1])
    ref, out = ref[:, :n], out[:, :n]
    if lag > 0:
        return ref[:, :n - lag], out[:, lag:]
    if lag < 0:
        return ref[:, -lag:], out[:, :n + lag]
    return ref, out


def si_sdr_aligned(ref, out):
    """SI-SDR in dB of already aligned [c, n] signals: zero-mean, per channel, averaged over
    channels. Scale invariant in `out`."""
    ref, out = as_planar(ref), as_planar(out)
    vals = []
    for r, o in zip(ref, out):
        r = r - r.mean()
        o = o - o.mean()
        rr = float(np.dot(r, r))
        if rr == 0.0:
            vals.append(float("nan"))
            continue
        target = (float(np.dot(o, r)) / rr) * r
        noise = o - target
        tt, nn = float(np.dot(target, target)), float(np.dot(noise, noise))
        if nn == 0.0:
            vals.append(float("inf"))
        elif tt == 0.0:
            vals.append(float("-inf"))
        else:
            vals.append(10.0 * math.log10(tt / nn))
    return float(np.mean(vals))


def si_sdr(ref, out, max_lag):
    """SI-SDR in dB after integer-sample alignment by cross-correlation (|lag| <= max_lag).
    Returns (si_sdr_db, lag)."""
    ref, out = as_planar(ref), as_planar(out)
    lag = best_lag(ref, out, max_lag)
    r, o = shift_pair(ref, out, lag)
    return si_sdr_aligned(r, o), lag
