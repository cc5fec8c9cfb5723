/* Command-line options shared by the commands. */
#ifndef ENCODEC_CLI_OPTIONS_H
#define ENCODEC_CLI_OPTIONS_H

typedef struct cli_options {
    const char *input;      /* path or "-" */
    const char *output;     /* path or "-"; inferred when not given */
    const char *model_file; /* --model */
    const char *lm_file;    /* --lm-model */
    const char *suffix;     /* -s: suffix for inferred decompression outputs */
    float bandwidth;        /* -b, kbps */
    int hq, lm, force, rescale, quiet, threads;
    /* --raw: headerless PCM for audio input (compression) and for decoded output */
    int raw;
    int raw_format;   /* RAW_* of raw_pcm.h (--format) */
    int raw_rate;     /* --rate, 0 = the model's */
    int raw_channels; /* --channels, 0 = the model's */
    int raw_out;      /* decoded output is raw (set by main from --raw or a .raw/.pcm name) */
} cli_options;

#endif
