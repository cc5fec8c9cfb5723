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
} cli_options;

#endif
