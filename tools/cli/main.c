/* encodec: command-line front end of libencodec, with the habits of the reference Python CLI
 * (python -m encodec): .ecdc input decompresses to WAV, other input compresses to .ecdc, a WAV
 * output for audio input runs the compress/decompress cycle, and a missing output name is
 * inferred the same way. This file parses arguments, infers the output and dispatches. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sndfile.h>
#include <soxr.h>

#include "atomic_output.h"
#include "commands.h"
#include "diag.h"
#include "encodec.h"
#include "input.h"
#include "model_path.h"
#include "options.h"

#define USAGE_EXIT 2

static void usage(FILE *f)
{
    char dirs[4096];
    model_search_path(dirs, sizeof dirs);
    fprintf(f,
        "Usage: encodec [OPTIONS] INPUT [OUTPUT]\n"
        "       encodec info FILE...\n"
        "\n"
        "High-fidelity neural audio codec (EnCodec). If INPUT is an .ecdc file, decompress it\n"
        "to WAV; otherwise compress the audio to .ecdc. If INPUT is audio and OUTPUT ends in\n"
        ".wav, compress and decompress again (to hear the codec). Without OUTPUT, an .ecdc\n"
        "input gives INPUT_STEM" "_decompressed.wav and audio gives INPUT_STEM.ecdc, next to it.\n"
        "Use - for standard input/output. `encodec info` describes .ecdc and audio files.\n"
        "\n"
        "Options:\n"
        "  -b, --bandwidth KBPS   target bandwidth: 1.5, 3, 6, 12 or 24 (default 6;\n"
        "                         1.5 is not offered with --hq)\n"
        "  -q, --hq               use the 48 kHz stereo model (encodec_48khz)\n"
        "  -l, --lm               entropy-code with the model's language model (smaller, slower)\n"
        "  -f, --force            overwrite the output file if it exists\n"
        "  -s, --decompress-suffix SUFFIX\n"
        "                         suffix of inferred decompressed names (default _decompressed)\n"
        "  -r, --rescale          scale the output down to avoid clipping (default: clip)\n"
        "  -m, --model FILE       model weights to use (.safetensors from encodec-convert);\n"
        "                         by default the model named in the .ecdc file, or\n"
        "                         encodec_24khz for compression, is looked up in the search path\n"
        "      --lm-model FILE    language model for --lm and entropy-coded .ecdc files; by\n"
        "                         default NAME_lm.safetensors beside the model or in the path\n"
        "  -t, --threads N        threads for the codec (default: number of CPUs, at most 16)\n"
        "      --quiet            no progress line, no warnings (errors only)\n"
        "  -h, --help             show this help\n"
        "  -V, --version          show versions\n"
        "\n"
        "Input audio: WAV, FLAC, OGG, AIFF, ... (anything libsndfile reads) at any rate; it is\n"
        "mixed to the model's channels (mean for mono, repeated for stereo) and resampled to\n"
        "its rate. Output WAV is 16-bit PCM at the model's rate, as long as the resampled\n"
        "input. With - as OUTPUT, audio input gives .ecdc and .ecdc input gives WAV.\n"
        "\n"
        "Models are NAME.safetensors files searched in $ENCODEC_MODEL_PATH (colon-separated),\n"
        "then in the built-in folders; the search path is now:\n"
        "  %s\n",
        dirs[0] ? dirs : "(empty)");
}

static void version(void)
{
    printf("encodec %s (libencodec %s, %s, %s)\n", ENCODEC_CLI_VERSION,
           encodec_version(), sf_version_string(), soxr_version());
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "encodec: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see encodec --help)\n");
    return USAGE_EXIT;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

typedef struct {
    cli_options o;
    int help, version, info;
    const char *pos[64];
    int n_pos;
} parsed_args;

/* Value of an option: "--opt=VALUE", "--opt VALUE", "-xVALUE" or "-x VALUE". */
static const char *take_value(int argc, char **argv, int *i, const char *inline_value)
{
    if (inline_value)
        return inline_value;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int set_option(parsed_args *p, char key, const char *value, const char *spelled)
{
    char *end;
    switch (key) {
    case 'b':
        errno = 0;
        p->o.bandwidth = strtof(value, &end);
        if (end == value || *end || errno || !isfinite(p->o.bandwidth) || p->o.bandwidth <= 0)
            return usage_error("invalid bandwidth '%s'", value);
        return 0;
    case 's': p->o.suffix = value; return 0;
    case 'm': p->o.model_file = value; return 0;
    case 'L': p->o.lm_file = value; return 0;
    case 't': {
        errno = 0;
        long n = strtol(value, &end, 10);
        if (end == value || *end || errno || n < 1 || n > 1024)
            return usage_error("invalid thread count '%s'", value);
        p->o.threads = (int)n;
        return 0;
    }
    case 'q': p->o.hq = 1; return 0;
    case 'l': p->o.lm = 1; return 0;
    case 'f': p->o.force = 1; return 0;
    case 'r': p->o.rescale = 1; return 0;
    case 'Q': p->o.quiet = 1; return 0;
    case 'h': p->help = 1; return 0;
    case 'V': p->version = 1; return 0;
    default: return usage_error("unknown option '%s'", spelled);
    }
}

static int takes_value(char key) { return strchr("bsmtL", key) != NULL; }

static const struct {
    const char *name;
    char key;
} long_options[] = {
    {"bandwidth", 'b'}, {"hq", 'q'}, {"lm", 'l'}, {"force", 'f'},
    {"decompress-suffix", 's'}, {"decompress_suffix", 's'}, {"suffix", 's'},
    {"rescale", 'r'}, {"model", 'm'}, {"lm-model", 'L'}, {"threads", 't'}, {"quiet", 'Q'},
    {"help", 'h'}, {"version", 'V'},
};

static int parse_args(int argc, char **argv, parsed_args *p)
{
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
            if (p->n_pos == (int)(sizeof p->pos / sizeof p->pos[0]))
                return usage_error("too many arguments%s", "");
            p->pos[p->n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (a[1] == '-') { /* long option */
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            char key = 0;
            for (size_t k = 0; k < sizeof long_options / sizeof long_options[0]; k++)
                if (strlen(long_options[k].name) == len &&
                    strncmp(long_options[k].name, a + 2, len) == 0)
                    key = long_options[k].key;
            if (!key)
                return usage_error("unknown option '%s'", a);
            const char *value = NULL;
            if (takes_value(key)) {
                value = take_value(argc, argv, &i, eq ? eq + 1 : NULL);
                if (!value)
                    return usage_error("option '%s' needs a value", a);
            } else if (eq) {
                return usage_error("option '%s' takes no value", a);
            }
            int rc = set_option(p, key, value, a);
            if (rc)
                return rc;
            continue;
        }
        for (const char *c = a + 1; *c; c++) { /* bundled short options: -fr, -b6 */
            char spelled[3] = {'-', *c, 0};
            if (*c == 'Q' || *c == 'L' || !strchr("bsmtqlfrhV", *c))
                return usage_error("unknown option '%s'", spelled);
            const char *value = NULL;
            if (takes_value(*c)) {
                value = take_value(argc, argv, &i, c[1] ? c + 1 : NULL);
                if (!value)
                    return usage_error("option '%s' needs a value", spelled);
            }
            int rc = set_option(p, *c, value, spelled);
            if (rc)
                return rc;
            if (value)
                break;
        }
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* dir/stem + add: the last extension of the file name (if any) replaced by add. */
static char *replace_extension(const char *path, const char *add)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t keep = dot && dot != base && dot[1] ? (size_t)(dot - path) : strlen(path);
    char *out = malloc(keep + strlen(add) + 1);
    if (out) {
        memcpy(out, path, keep);
        strcpy(out + keep, add);
    }
    return out;
}

/* Choose or check the output name as the reference does. Returns 0 or an exit status. */
static int settle_output(cli_options *o, int decompress, char **owned, int *out_is_wav)
{
    if (!o->output) {
        if (strcmp(o->input, "-") == 0) {
            o->output = "-";
        } else {
            char add[512];
            snprintf(add, sizeof add, "%s%s", decompress ? o->suffix : "",
                     decompress ? ".wav" : ".ecdc");
            *owned = replace_extension(o->input, add);
            if (!*owned) {
                diag_error(NULL, "out of memory");
                return 1;
            }
            o->output = *owned;
        }
    }
    const int to_stdout = strcmp(o->output, "-") == 0;
    *out_is_wav = !decompress && ends_with(o->output, ".wav");
    if (decompress && !to_stdout && !ends_with(o->output, ".wav")) {
        diag_error(o->output, "decompressed output must be a .wav file");
        return 1;
    }
    if (!decompress && !to_stdout && !ends_with(o->output, ".ecdc") && !*out_is_wav) {
        diag_error(o->output, "output must be an .ecdc file (or .wav to compress and "
                              "decompress again)");
        return 1;
    }
    if (to_stdout && isatty(STDOUT_FILENO)) {
        diag_error("<stdout>", "refusing to write binary data to a terminal; redirect it or "
                               "name an output file");
        return 1;
    }
    return output_check(o->output, o->force) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    parsed_args p;
    memset(&p, 0, sizeof p);
    p.o.bandwidth = 6.0f;
    p.o.suffix = "_decompressed";
    p.o.threads = default_threads();
    int rc = parse_args(argc, argv, &p);
    if (rc)
        return rc;
    if (p.help) {
        usage(stdout);
        return 0;
    }
    if (p.version) {
        version();
        return 0;
    }
    cli_options *o = &p.o;
    diag_set_quiet(o->quiet);
    output_install_signal_handlers();

    if (p.n_pos >= 1 && strcmp(p.pos[0], "info") == 0) {
        if (p.n_pos < 2)
            return usage_error("info needs a FILE%s", "");
        int worst = 0;
        for (int i = 1; i < p.n_pos; i++) {
            if (i > 1)
                printf("\n");
            int r = run_info(o, p.pos[i]);
            worst = r > worst ? r : worst;
        }
        return worst;
    }
    if (p.n_pos == 0)
        return usage_error("missing INPUT%s", "");
    if (p.n_pos > 2)
        return usage_error("unexpected argument '%s'", p.pos[2]);
    o->input = p.pos[0];
    o->output = p.n_pos > 1 ? p.pos[1] : NULL;

    byte_buf in;
    if (input_read(o->input, &in) != 0)
        return 1;
    const int decompress = is_ecdc(o->input, &in);
    char *owned = NULL;
    int out_is_wav = 0;
    rc = settle_output(o, decompress, &owned, &out_is_wav);
    if (rc == 0)
        rc = decompress ? run_decompress(o, &in) : run_compress(o, &in, out_is_wav);
    byte_buf_free(&in);
    free(owned);
    return rc;
}
