#!/usr/bin/python3
"""Build the libencodec training corpus from Debian packages only (never from shared/audio).

Sources (see tools/train/DATA.md for the packages and their licences):
  real speech   festvox-ru recordings (Russian, 1 male), klettres-data and ktuberling-data
                (letters/syllables/words in ~25 languages; short clips are concatenated)
  synth speech  flite (kal, kal16, awb, rms, slt) and festival (kal, ked, us-slt-hts) reading
                fortune-file text and random word lists, with random pitch/rate/EQ/reverb
  music         randomly generated General-MIDI songs (our own generator below: tempo, metre,
                key, scale, chord progression, pad/arpeggio, bass, melody, counter-melody,
                drums, pan, reverb sends) rendered by fluidsynth with three GM soundfonts
  mix           speech over music at 0-15 dB SNR
plus augmentation on everything: random level, occasional noise (white/pink/brown/hum) and EQ.

Output (24 kHz mono int16), under OUT (default /work/train-run/corpus):
  <category>.npy         all clips of the category concatenated (int16)
  <category>.index.json  [[offset, length, source-description], ...]
  manifest.json          categories, durations, seed, package versions

Deterministic for a given --seed and the same package versions.  Runs on one core (all child
processes are sequential); ~10-15 min for the default sizes.

Usage: /usr/bin/python3 tools/train/make_corpus.py [--out DIR] [--seed N] [--scale X]
"""

import argparse
import glob
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

SR = 24000

FLITE_VOICES = ["slt", "awb", "rms", "kal16", "kal"]
FESTIVAL_VOICES = ["voice_kal_diphone", "voice_ked_diphone", "voice_cmu_us_slt_arctic_hts"]
SOUNDFONTS = ["/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
              "/usr/share/sounds/sf2/TimGM6mb.sf2"]
FORTUNE_DIR = "/usr/share/games/fortunes"
WORDS = "/usr/share/dict/american-english"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def run(cmd, inp=None):
    p = subprocess.run(cmd, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd[0], p.stderr.decode(errors="replace")[-300:]))
    return p.stdout


def sox_to_24k(path, effects=()):
    """Any audio file -> float32 mono 24 kHz array, through an optional sox effect chain."""
    raw = run(["sox", "-q", path, "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
               "-r", str(SR), "-"] + list(effects) + ["rate", "-v", str(SR)])
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def speech_effects(rng, strength=1.0):
    """Random voice-variety chain: pitch, tempo, EQ, sometimes reverb."""
    fx = []
    if rng.random() < 0.8:
        fx += ["pitch", "%d" % rng.randint(int(-400 * strength), int(400 * strength))]
    if rng.random() < 0.6:
        fx += ["tempo", "-s", "%.3f" % rng.uniform(0.85, 1.18)]
    if rng.random() < 0.5:
        fx += ["bass", "%.1f" % rng.uniform(-6, 6)]
    if rng.random() < 0.5:
        fx += ["treble", "%.1f" % rng.uniform(-6, 6)]
    if rng.random() < 0.2:
        fx += ["reverb", "%d" % rng.randint(10, 60), "50", "%d" % rng.randint(20, 100)]
    return fx


# ---------------------------------------------------------------------------------------------
# Level / noise augmentation
# ---------------------------------------------------------------------------------------------

def set_level(x, rng, lo_db=-36.0, hi_db=-12.0):
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)
    target = 10 ** (rng.uniform(lo_db, hi_db) / 20)
    y = x * (target / rms)
    peak = float(np.max(np.abs(y)) + 1e-9)
    if peak > 0.98:
        y *= 0.98 / peak
    return y


def make_noise(n, rng, nprng):
    kind = rng.choice(["white", "pink", "brown", "hum"])
    if kind == "hum":
        t = np.arange(n) / SR
        f0 = rng.choice([50.0, 60.0])
        y = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h for h in (1, 2, 3, 5))
        return y.astype(np.float32)
    w = nprng.standard_normal(n).astype(np.float32)
    if kind == "white":
        return w
    spec = np.fft.rfft(w)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f) if kind == "pink" else f
    y = np.fft.irfft(spec, n).astype(np.float32)
    return y / (np.std(y) + 1e-9)


def add_noise(x, rng, nprng, snr_lo=10, snr_hi=40):
    n = make_noise(len(x), rng, nprng)
    px = float(np.mean(x.astype(np.float64) ** 2)) + 1e-12
    pn = float(np.mean(n.astype(np.float64) ** 2)) + 1e-12
    snr = rng.uniform(snr_lo, snr_hi)
    return x + n * math.sqrt(px / pn / 10 ** (snr / 10))


def finish(x, rng, nprng, noise_p=0.15):
    if rng.random() < noise_p:
        x = add_noise(x, rng, nprng)
    return set_level(x, rng)


# ---------------------------------------------------------------------------------------------
# Text for the synthesisers
# ---------------------------------------------------------------------------------------------

def load_fortunes():
    out = []
    for f in sorted(os.listdir(FORTUNE_DIR)):
        p = os.path.join(FORTUNE_DIR, f)
        if "." in f or not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8", errors="replace") as fh:
            for chunk in fh.read().split("\n%\n"):
                t = re.sub(r"\s+", " ", chunk).strip()
                t = re.sub(r"[^A-Za-z0-9 .,;:!?'\"()-]", " ", t)
                t = re.sub(r"\s+", " ", t).strip()
                if 20 <= len(t) <= 500 and sum(c.isalpha() for c in t) > 0.6 * len(t):
                    out.append(t)
    return out


def load_words():
    with open(WORDS, encoding="utf-8", errors="replace") as fh:
        return [w.strip() for w in fh if w.strip().isalpha() and "'" not in w]


def random_text(rng, fortunes, words):
    if rng.random() < 0.75:
        return " ".join(rng.choice(fortunes) for _ in range(rng.randint(1, 2)))
    n = rng.randint(6, 30)
    s = []
    for i in range(n):
        w = rng.choice(words)
        s.append(w)
        if rng.random() < 0.12:
            s[-1] += rng.choice([",", ".", "?", "!"])
    return " ".join(s) + "."


# ---------------------------------------------------------------------------------------------
# Random General-MIDI songs
# ---------------------------------------------------------------------------------------------

SCALES = {
    "major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10],
    "dorian": [0, 2, 3, 5, 7, 9, 10], "mixolydian": [0, 2, 4, 5, 7, 9, 10],
    "harmonic_minor": [0, 2, 3, 5, 7, 8, 11], "phrygian": [0, 1, 3, 5, 7, 8, 10],
    "lydian": [0, 2, 4, 6, 7, 9, 11],
}
PENTA = {"major": [0, 2, 4, 7, 9], "minor": [0, 3, 5, 7, 10]}
PROGRESSIONS = [[0, 4, 5, 3], [0, 3, 4, 0], [1, 4, 0, 0], [0, 5, 3, 4], [5, 3, 0, 4],
                [0, 6, 5, 4], [0, 3, 0, 4], [0, 2, 3, 4], [0, 0, 3, 3, 4, 4, 0, 0]]
# GM program families (0-based)
PADS = [0, 1, 2, 4, 5, 6, 7, 16, 17, 18, 19, 24, 25, 26, 27, 46, 48, 49, 50, 51, 52, 53, 88, 89,
        90, 91, 92, 94, 95, 11, 12, 8, 9, 10, 13, 14, 15, 20, 21, 22, 23]
BASSES = [32, 33, 34, 35, 36, 37, 38, 39, 43, 42, 58, 70, 0, 87]
LEADS = [0, 1, 4, 11, 13, 22, 24, 25, 26, 27, 29, 30, 40, 41, 42, 56, 57, 60, 61, 64, 65, 66,
         68, 69, 71, 72, 73, 74, 75, 78, 79, 80, 81, 82, 83, 84, 85, 104, 105, 106, 107, 108,
         109, 110, 111, 6, 8, 9, 10, 12, 14, 45, 46]
ORCH = [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 56, 57, 58, 60, 61, 68, 70, 71, 72, 73]
SOLO = [0, 1, 2, 4, 5, 6, 7, 24, 25, 26, 46, 8, 11, 12, 13, 19, 21]


def varlen(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


class Track:
    def __init__(self):
        self.ev = []  # (tick, order, bytes)

    def add(self, tick, data, order=1):
        self.ev.append((int(tick), order, bytes(data)))

    def note(self, ch, tick, dur, pitch, vel):
        pitch = max(0, min(127, int(pitch)))
        vel = max(1, min(127, int(vel)))
        self.add(tick, [0x90 | ch, pitch, vel], 2)
        self.add(tick + max(1, int(dur)), [0x80 | ch, pitch, 0], 0)

    def encode(self):
        self.ev.sort(key=lambda e: (e[0], e[1]))
        out, last = bytearray(), 0
        for t, _, d in self.ev:
            out += varlen(t - last) + d
            last = t
        out += varlen(0) + b"\xff\x2f\x00"
        return b"MTrk" + struct.pack(">I", len(out)) + bytes(out)


def random_song(rng, seconds):
    """Returns (SMF bytes, description)."""
    tpq = 480
    bpm = rng.choice([rng.uniform(60, 100), rng.uniform(90, 140), rng.uniform(120, 180)])
    beats = rng.choice([4, 4, 4, 3, 6])
    bar = beats * tpq
    root = rng.randint(0, 11)
    mode = rng.choice(list(SCALES))
    scale = SCALES[mode]
    style = rng.choice(["band", "band", "band", "solo", "orchestral", "ambient", "electronic"])
    n_bars = max(2, int(math.ceil(seconds * bpm / 60 / beats)))
    prog = rng.choice(PROGRESSIONS)
    chord_len = rng.choice([1, 1, 2]) if len(prog) <= 4 else 1

    def degree_pitch(deg, octave):
        o, d = divmod(deg, 7)
        return 12 * (octave + o) + root + scale[d]

    def chord(deg, octave, size=3):
        return [degree_pitch(deg + 2 * i, octave) for i in range(size)]

    tracks = []
    meta = Track()
    meta.add(0, [0xFF, 0x51, 0x03] + list(int(60e6 / bpm).to_bytes(3, "big")))
    meta.add(0, [0xFF, 0x58, 0x04, beats if beats != 6 else 6, 2 if beats != 6 else 3, 24, 8])
    tracks.append(meta)
    ch_list = [c for c in range(16) if c != 9]
    rng.shuffle(ch_list)
    used = []
    swing = rng.random() < 0.2
    human = rng.uniform(0, 15)

    def setup(tr, ch, program):
        tr.add(0, [0xC0 | ch, program])
        tr.add(0, [0xB0 | ch, 7, rng.randint(70, 115)])
        tr.add(0, [0xB0 | ch, 10, rng.randint(20, 108)])
        tr.add(0, [0xB0 | ch, 91, rng.randint(0, 90)])
        tr.add(0, [0xB0 | ch, 93, rng.randint(0, 50)])
        used.append(program)

    def t_of(b, beat_frac):
        t = b * bar + beat_frac * tpq
        if swing and (beat_frac * 2) % 2 == 1:
            t += tpq // 6
        return t + rng.uniform(0, human)

    chords_per_bar = [prog[(b // chord_len) % len(prog)] for b in range(n_bars)]

    # harmony part(s)
    n_harm = {"solo": 1, "orchestral": 2, "ambient": 2}.get(style, rng.randint(1, 2))
    for _ in range(n_harm):
        ch = ch_list.pop()
        tr = Track()
        pool = {"solo": SOLO, "orchestral": ORCH}.get(style, PADS)
        setup(tr, ch, rng.choice(pool))
        octave = rng.choice([4, 4, 5]) if style != "solo" else 4
        pattern = rng.choice(["block", "arp", "pulse", "sustain"] if style != "ambient"
                             else ["sustain"])
        vel = rng.randint(55, 95)
        size = rng.choice([3, 3, 4])
        for b in range(n_bars):
            c = chord(chords_per_bar[b], octave, size)
            if pattern == "sustain":
                for p in c:
                    tr.note(ch, t_of(b, 0), bar * 0.98, p, vel + rng.randint(-8, 8))
            elif pattern == "block":
                hits = rng.choice([[0], [0, beats / 2], list(range(beats))])
                for h in hits:
                    for p in c:
                        tr.note(ch, t_of(b, h), tpq * 0.9 * (beats / len(hits)), p,
                                vel + rng.randint(-10, 10))
            elif pattern == "pulse":
                for k in range(beats * 2):
                    for p in c:
                        tr.note(ch, t_of(b, k / 2), tpq * 0.4, p, vel + rng.randint(-10, 10))
            else:
                step = rng.choice([0.5, 0.25, 1 / 3])
                seq = c + [c[0] + 12] if rng.random() < 0.5 else c + c[-2:0:-1]
                k, pos = 0, 0.0
                while pos < beats - 1e-6:
                    tr.note(ch, t_of(b, pos), tpq * step * 1.5, seq[k % len(seq)],
                            vel + rng.randint(-12, 8))
                    k += 1
                    pos += step
        tracks.append(tr)

    # bass
    if style in ("band", "electronic", "orchestral") or rng.random() < 0.3:
        ch = ch_list.pop()
        tr = Track()
        setup(tr, ch, rng.choice(BASSES) if style != "orchestral" else rng.choice([32, 43, 42]))
        pat = rng.choice(["root", "root8", "walk", "octave"])
        vel = rng.randint(75, 110)
        for b in range(n_bars):
            r = degree_pitch(chords_per_bar[b], 2)
            if pat == "root":
                for k in range(beats):
                    tr.note(ch, t_of(b, k), tpq * 0.9, r, vel)
            elif pat == "root8":
                for k in range(beats * 2):
                    tr.note(ch, t_of(b, k / 2), tpq * 0.45, r, vel + rng.randint(-10, 5))
            elif pat == "octave":
                for k in range(beats * 2):
                    tr.note(ch, t_of(b, k / 2), tpq * 0.45, r + 12 * (k % 2), vel)
            else:
                for k in range(beats):
                    p = degree_pitch(chords_per_bar[b] + rng.choice([0, 2, 4, 1, -1]), 2)
                    tr.note(ch, t_of(b, k), tpq * 0.9, p, vel + rng.randint(-10, 5))
        tracks.append(tr)

    # melody (and sometimes a counter-melody)
    n_mel = 0 if style == "ambient" and rng.random() < 0.5 else rng.choice([1, 1, 2])
    for m in range(n_mel):
        ch = ch_list.pop()
        tr = Track()
        pool = {"solo": SOLO, "orchestral": ORCH}.get(style, LEADS)
        setup(tr, ch, rng.choice(pool))
        octave = rng.choice([5, 5, 6, 4]) - m
        use_penta = rng.random() < 0.3
        notes = PENTA["minor" if scale[2] == 3 else "major"] if use_penta else scale
        deg = rng.randint(0, len(notes) - 1)
        vel = rng.randint(70, 110)
        durs = rng.choice([[0.5, 0.5, 1], [0.25, 0.5, 0.5, 1, 2], [1, 1, 2], [0.5, 0.25, 0.25]])
        for b in range(n_bars):
            pos = 0.0
            while pos < beats - 1e-6:
                d = min(rng.choice(durs), beats - pos)
                if rng.random() < 0.15:  # rest
                    pos += d
                    continue
                deg += rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])
                deg = max(-3, min(2 * len(notes), deg))
                o, i = divmod(deg, len(notes))
                p = 12 * (octave + o) + root + notes[i]
                if rng.random() < 0.3 and pos == 0:  # land on a chord tone
                    p = chord(chords_per_bar[b], octave)[rng.randint(0, 2)]
                tr.note(ch, t_of(b, pos), tpq * d * rng.uniform(0.6, 1.0), p,
                        vel + rng.randint(-15, 10))
                if rng.random() < 0.05:  # pitch bend wiggle
                    tr.add(t_of(b, pos) + tpq * d * 0.5, [0xE0 | ch, 0, rng.randint(48, 80)])
                    tr.add(t_of(b, pos) + tpq * d * 0.95, [0xE0 | ch, 0, 64])
                pos += d
        tracks.append(tr)

    # drums
    if style in ("band", "electronic") or (style == "orchestral" and rng.random() < 0.3):
        tr = Track()
        tr.add(0, [0xC9, rng.choice([0, 0, 8, 16, 24, 25, 32, 40, 48])])  # drum kit
        tr.add(0, [0xB9, 7, rng.randint(80, 120)])
        tr.add(0, [0xB9, 91, rng.randint(0, 60)])
        kit = rng.choice(["rock", "four", "half", "latin", "busy"])
        hat = rng.choice([42, 42, 44, 46, 51, 53])
        steps = 4 if kit == "busy" else 2
        for b in range(n_bars):
            fill = b % 4 == 3 and rng.random() < 0.5
            for k in range(beats * steps):
                pos = k / steps
                v = rng.randint(70, 115)
                if kit == "four" and k % steps == 0:
                    tr.note(9, t_of(b, pos), 60, 36, v)
                elif k == 0 or (kit == "rock" and k == steps * 2 + 1 and rng.random() < 0.5):
                    tr.note(9, t_of(b, pos), 60, 36, v)
                if (k % (2 * steps) == steps) and kit != "half":
                    tr.note(9, t_of(b, pos), 60, rng.choice([38, 38, 40, 39]), v)
                if kit == "half" and k == steps * 2:
                    tr.note(9, t_of(b, pos), 60, 38, v)
                if kit == "latin" and rng.random() < 0.35:
                    tr.note(9, t_of(b, pos), 60, rng.choice([60, 61, 62, 63, 64, 75, 76, 70]),
                            v - 10)
                if rng.random() < 0.9:
                    tr.note(9, t_of(b, pos), 60, hat, v - rng.randint(10, 40))
                if fill and pos >= beats - 1 and rng.random() < 0.7:
                    tr.note(9, t_of(b, pos), 60, rng.choice([41, 43, 45, 47, 48, 50, 38]), v)
            if b % 8 == 0:
                tr.note(9, t_of(b, 0), 60, rng.choice([49, 57, 55]), rng.randint(80, 110))
        tracks.append(tr)

    data = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), tpq) + \
        b"".join(t.encode() for t in tracks)
    desc = "midi %s %s bpm=%.0f key=%d/%d programs=%s" % (style, mode, bpm, root, beats, used)
    return data, desc


# ---------------------------------------------------------------------------------------------
# Generators per category
# ---------------------------------------------------------------------------------------------

class Sink:
    def __init__(self):
        self.chunks, self.index, self.pos = [], [], 0

    def add(self, x, desc):
        a = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
        if len(a) < SR // 2:
            return
        self.chunks.append(a)
        self.index.append([self.pos, len(a), desc])
        self.pos += len(a)

    def seconds(self):
        return self.pos / SR

    @staticmethod
    def load(out, name):
        s = Sink()
        arr = np.load(os.path.join(out, name + ".npy"))
        s.index = json.load(open(os.path.join(out, name + ".index.json")))
        s.chunks = [arr[o:o + n] for o, n, _ in s.index]
        s.pos = len(arr)
        return s

    def save(self, out, name):
        arr = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        np.save(os.path.join(out, name + ".npy"), arr)
        with open(os.path.join(out, name + ".index.json"), "w") as f:
            json.dump(self.index, f)


def gen_music(rng, nprng, tmp, target_s, sink, tag):
    k = 0
    while sink.seconds() < target_s:
        secs = rng.uniform(15, 40)
        midi, desc = random_song(rng, secs)
        mid = os.path.join(tmp, "song.mid")
        wav = os.path.join(tmp, "song.wav")
        with open(mid, "wb") as f:
            f.write(midi)
        sf = rng.choice(SOUNDFONTS)
        run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SR), "-R",
             rng.choice(["0", "1", "1"]), "-C", rng.choice(["0", "1"]), "-F", wav, "-T", "wav",
             sf, mid])
        fx = []
        if rng.random() < 0.3:
            fx += ["bass", "%.1f" % rng.uniform(-6, 6), "treble", "%.1f" % rng.uniform(-6, 6)]
        x = sox_to_24k(wav, fx)
        # trim the render's silent tail
        nz = np.nonzero(np.abs(x) > 1e-4)[0]
        if len(nz) == 0:
            continue
        x = x[nz[0]:nz[-1] + 1]
        sink.add(finish(x, rng, nprng, noise_p=0.1),
                 "%s %s sf=%s" % (tag, desc, os.path.basename(sf)))
        k += 1
        if k % 20 == 0:
            log("music: %d songs, %.1f min" % (k, sink.seconds() / 60))


def gen_flite(rng, nprng, tmp, target_s, sink, fortunes, words):
    wav = os.path.join(tmp, "flite.wav")
    while sink.seconds() < target_s:
        v = rng.choice(FLITE_VOICES)
        text = random_text(rng, fortunes, words)
        cmd = ["flite", "-voice", v, "-t", text, "-o", wav,
               "--setf", "duration_stretch=%.2f" % rng.uniform(0.8, 1.3)]
        if rng.random() < 0.7:
            cmd += ["--setf", "int_f0_target_mean=%d" % rng.randint(80, 240),
                    "--setf", "int_f0_target_stddev=%d" % rng.randint(5, 40)]
        try:
            run(cmd)
        except RuntimeError as e:
            log("flite %s: skipped a text (%s)" % (v, str(e)[:80]))
            continue
        x = sox_to_24k(wav, speech_effects(rng, 0.5))
        sink.add(finish(x, rng, nprng), "flite %s" % v)


def gen_festival(rng, nprng, tmp, target_s, sink, fortunes, words):
    txt = os.path.join(tmp, "fest.txt")
    wav = os.path.join(tmp, "fest.wav")
    while sink.seconds() < target_s:
        v = rng.choice(FESTIVAL_VOICES)
        with open(txt, "w") as f:
            f.write(random_text(rng, fortunes, words))
        try:
            run(["text2wave", "-eval", "(%s)" % v, txt, "-o", wav])
        except RuntimeError as e:  # festival rejects a few texts; skip them
            log("festival %s: skipped a text (%s)" % (v, str(e)[:80]))
            continue
        x = sox_to_24k(wav, speech_effects(rng, 1.0))
        sink.add(finish(x, rng, nprng), "festival %s" % v)


def gen_recorded(rng, nprng, files, target_s, sink, tag, group=(1, 1)):
    """Real recordings; short clips are concatenated (group = clips per item) with gaps."""
    files = list(files)
    rng.shuffle(files)
    i = 0
    while i < len(files) and sink.seconds() < target_s:
        n = rng.randint(*group)
        parts = []
        fx = speech_effects(rng, 0.6) if rng.random() < 0.5 else []
        for f in files[i:i + n]:
            try:
                y = sox_to_24k(f, fx)
            except RuntimeError:
                continue
            parts.append(y)
            parts.append(np.zeros(int(SR * rng.uniform(0.05, 0.4)), np.float32))
        i += n
        if parts:
            x = np.concatenate(parts)
            sink.add(finish(x, rng, nprng), "%s %d files from %s" % (tag, n, files[i - n]))


def gen_mix(rng, nprng, speech, music, target_s, sink):
    while sink.seconds() < target_s:
        so, sl, sd = rng.choice(speech.index)
        mo, ml, md = rng.choice(music.index)
        s = speech_arr(speech)[so:so + sl].astype(np.float32) / 32768
        m = speech_arr(music)[mo:mo + ml].astype(np.float32) / 32768
        n = min(len(s), len(m))
        ms = rng.randint(0, len(m) - n)
        s, m = s[:n], m[ms:ms + n]
        ps = float(np.mean(s.astype(np.float64) ** 2)) + 1e-12
        pm = float(np.mean(m.astype(np.float64) ** 2)) + 1e-12
        snr = rng.uniform(0, 15)
        x = s + m * math.sqrt(ps / pm / 10 ** (snr / 10))
        sink.add(finish(x, rng, nprng, noise_p=0.1), "mix snr=%.1f [%s] + [%s]" % (snr, sd, md))


def speech_arr(sink):
    if not hasattr(sink, "_arr"):
        sink._arr = np.concatenate(sink.chunks)
    return sink._arr


def pkg_version(p):
    try:
        return run(["dpkg-query", "-W", "-f=${Version}", p]).decode()
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/work/train-run/corpus")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every category's target duration")
    ap.add_argument("--only", default=None, help="comma-separated categories to build")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # minutes per category (real speech is capped by what the packages hold)
    targets = {"music": 45, "flite": 18, "festival": 14, "speech_ru": 30,
               "speech_klettres": 20, "speech_ktuberling": 15, "mix": 12}
    only = set(args.only.split(",")) if args.only else None
    fortunes, words = load_fortunes(), load_words()
    log("%d fortunes, %d words" % (len(fortunes), len(words)))
    tmp = tempfile.mkdtemp(prefix="corpus-")
    sinks = {}
    try:
        for i, (cat, minutes) in enumerate(targets.items()):
            if only and cat not in only and not (cat == "mix" and only & {"mix"}):
                continue
            rng = random.Random(args.seed * 1000 + i)
            nprng = np.random.default_rng(args.seed * 1000 + i)
            target_s = minutes * 60 * args.scale
            sink = Sink()
            t0 = time.time()
            if cat == "music":
                gen_music(rng, nprng, tmp, target_s, sink, "music")
            elif cat == "flite":
                gen_flite(rng, nprng, tmp, target_s, sink, fortunes, words)
            elif cat == "festival":
                gen_festival(rng, nprng, tmp, target_s, sink, fortunes, words)
            elif cat == "speech_ru":
                files = sorted(glob.glob("/usr/share/festival/voices/russian/"
                                         "msu_ru_nsh_clunits/wav/*.wav"))
                gen_recorded(rng, nprng, files, target_s, sink, "festvox-ru", (1, 1))
            elif cat == "speech_klettres":
                files = sorted(glob.glob("/usr/share/klettres/**/*.ogg", recursive=True))
                gen_recorded(rng, nprng, files, target_s, sink, "klettres", (6, 16))
            elif cat == "speech_ktuberling":
                files = sorted(f for f in glob.glob("/usr/share/ktuberling/sounds/**/*",
                                                    recursive=True)
                               if f.endswith((".ogg", ".wav")))
                gen_recorded(rng, nprng, files, target_s, sink, "ktuberling", (4, 10))
            elif cat == "mix":
                for c in ("music", "flite", "festival", "speech_ru", "speech_klettres"):
                    if c not in sinks and os.path.exists(os.path.join(args.out, c + ".npy")):
                        sinks[c] = Sink.load(args.out, c)
                if "music" not in sinks:
                    continue
                sp = Sink()
                for c in ("flite", "festival", "speech_ru", "speech_klettres"):
                    if c in sinks:
                        sp.chunks += sinks[c].chunks
                        for o, l, d in sinks[c].index:
                            sp.index.append([sp.pos + o, l, d])
                        sp.pos += sinks[c].pos
                gen_mix(rng, nprng, sp, sinks["music"], target_s, sink)
            sinks[cat] = sink
            sink.save(args.out, cat)
            log("%s: %d clips, %.1f min in %.0f s" % (cat, len(sink.index),
                                                      sink.seconds() / 60, time.time() - t0))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pkgs = ["flite", "festival", "festlex-cmu", "festlex-poslex", "festvox-kallpc16k",
            "festvox-kdlpc16k", "festvox-us-slt-hts", "festvox-ru", "klettres-data",
            "ktuberling-data", "fluidsynth", "fluid-soundfont-gm",
            "musescore-general-soundfont-small", "timgm6mb-soundfont", "fortunes-min",
            "fortunes", "wamerican", "sox"]
    manifest = {"sample_rate": SR, "seed": args.seed, "scale": args.scale,
                "categories": {c: {"clips": len(s.index), "seconds": s.seconds()}
                               for c, s in sinks.items()},
                "packages": {p: pkg_version(p) for p in pkgs}}
    mpath = os.path.join(args.out, "manifest.json")
    if only and os.path.exists(mpath):
        old = json.load(open(mpath))
        old["categories"].update(manifest["categories"])
        manifest["categories"] = old["categories"]
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=1)
    log("total %.1f min" % (sum(s.seconds() for s in sinks.values()) / 60))


if __name__ == "__main__":
    main()
