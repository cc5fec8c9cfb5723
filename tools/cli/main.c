/* encodec: command-line front end of libencodec, with the habits of the reference Python CLI
 * (python -m encodec): .ecdc input decompresses to WAV, other input compresses to .ecdc, a WAV
 * output for audio input runs the compress/decompress cycle, and a missing output name is
 * inferred the same way. This file parses arguments, infers the output and dispatches. */
#ifdef _OPENMP
#include <omp.h>
#endif
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>
#include <soxr.h>

#include "atomic_output.h"
#include "commands.h"
#include "diag.h"
#include "ecdc_live.h"
#include "encodec.h"
#include "input.h"
#include "model_path.h"
#include "options.h"
#include "raw_pcm.h"

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
        "                         by default the model named in the .ecdc file, or for\n"
        "                         compression encodec_24khz (official, if converted) else the\n"
        "                         bundled libencodec_24khz, is looked up in the search path\n"
        "      --lm-model FILE    language model for --lm and entropy-coded .ecdc files; by\n"
        "                         default NAME_lm.safetensors beside the model or in the path\n"
        "  -t, --threads N        threads for the codec (default: number of CPUs, at most 16)\n"
        "      --raw              audio is headerless PCM: the input when compressing, the\n"
        "                         output when decompressing (also with OUTPUT named .raw/.pcm)\n"
        "      --format FMT       raw sample format: s16le (default) or f32le\n"
        "      --rate HZ          raw input sample rate (default: the model's)\n"
        "      --channels N       raw input channels (default: the model's)\n"
        "      --quiet            no progress line, no warnings (errors only)\n"
        "  -h, --help             show this help\n"
        "  -V, --version          show versions\n"
        "\n"
        "Input audio: WAV, FLAC, OGG, AIFF, ... (anything libsndfile reads) at any rate; it is\n"
        "mixed to the model's channels (mean for mono, repeated for stereo) and resampled to\n"
        "its rate. Output WAV is 16-bit PCM at the model's rate, as long as the resampled\n"
        "input. With - as OUTPUT, audio input gives .ecdc and .ecdc input gives WAV.\n"
        "\n"
        "Pipes: an .ecdc stream on standard input is decoded as it arrives and its audio\n"
        "written at once (WAV with an \"unknown length\" header for live streams, or raw PCM\n"
        "with --raw); raw PCM on standard input (--raw) is encoded as it arrives into a live\n"
        ".ecdc stream (length written at its end). Other audio on a pipe is read whole.\n"
        "  arecord -f S16_LE -r 24000 -c 1 | encodec --raw -b 6 - - > talk.ecdc\n"
        "  cat talk.ecdc | encodec --raw - - | aplay -f S16_LE -r 24000 -c 1\n"
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

/* On a busy machine, threads that wait at the end of every layer for a descheduled sibling
 * burn the CPU others need: let OpenMP use fewer threads when the load average says the cores
 * are taken (libgomp's dynamic adjustment; OMP_DYNAMIC in the environment decides instead). */
static void adapt_threads_to_load(void)
{
#ifdef _OPENMP
    if (!getenv("OMP_DYNAMIC"))
        omp_set_dynamic(1);
#endif
}

typedef struct {
    cli_options o;
    int help, version, info;
    int raw_opts; /* --format, --rate or --channels seen */
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
    case 'F':
        if (raw_format_parse(value, &p->o.raw_format) != 0)
            return usage_error("invalid raw sample format '%s' (use s16le or f32le)", value);
        p->raw_opts = 1;
        return 0;
    case 'R':
    case 'C': {
        errno = 0;
        long n = strtol(value, &end, 10);
        long top = key == 'R' ? 1000000 : 64;
        if (end == value || *end || errno || n < 1 || n > top)
            return usage_error(key == 'R' ? "invalid sample rate '%s'"
                                          : "invalid channel count '%s'", value);
        *(key == 'R' ? &p->o.raw_rate : &p->o.raw_channels) = (int)n;
        p->raw_opts = 1;
        return 0;
    }
    case 'W': p->o.raw = 1; return 0;
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

static int takes_value(char key) { return strchr("bsmtLFRC", key) != NULL; }

static const struct {
    const char *name;
    char key;
} long_options[] = {
    {"bandwidth", 'b'}, {"hq", 'q'}, {"lm", 'l'}, {"force", 'f'},
    {"decompress-suffix", 's'}, {"decompress_suffix", 's'}, {"suffix", 's'},
    {"rescale", 'r'}, {"model", 'm'}, {"lm-model", 'L'}, {"threads", 't'}, {"quiet", 'Q'},
    {"help", 'h'}, {"version", 'V'}, {"raw", 'W'}, {"format", 'F'}, {"rate", 'R'},
    {"channels", 'C'},
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
            if (!strchr("bsmtqlfrhV", *c)) /* the others are long options only */
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
                     !decompress ? ".ecdc" : o->raw ? ".raw" : ".wav");
            *owned = replace_extension(o->input, add);
            if (!*owned) {
                diag_error(NULL, "out of memory");
                return 1;
            }
            o->output = *owned;
        }
    }
    const int to_stdout = strcmp(o->output, "-") == 0;
    const int raw_name = ends_with(o->output, ".raw") || ends_with(o->output, ".pcm");
    /* audio output: decompression, or the cycle when audio goes to a .wav/.raw/.pcm file */
    *out_is_wav = !decompress && (ends_with(o->output, ".wav") || raw_name);
    o->raw_out = decompress ? o->raw || raw_name : raw_name;
    if (decompress && !to_stdout && !o->raw_out && !ends_with(o->output, ".wav")) {
        diag_error(o->output, "decompressed output must be a .wav file (or raw PCM with "
                              "--raw or a .raw/.pcm name)");
        return 1;
    }
    if (!decompress && !to_stdout && !ends_with(o->output, ".ecdc") && !*out_is_wav) {
        diag_error(o->output, "output must be an .ecdc file (or .wav/.raw/.pcm to compress "
                              "and decompress again)");
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
    adapt_threads_to_load();
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

    if (p.raw_opts && !o->raw)
        return usage_error("--format, --rate and --channels describe raw PCM: add --raw%s", "");

    /* An input is inspected by its first bytes (the .ecdc magic) and then streamed when it
     * can be: raw PCM on a pipe (not with --lm, which needs the length up front), .ecdc
     * streams, audio files of exactly known length; the rest is read whole. */
    const int from_stdin = strcmp(o->input, "-") == 0;
    struct stat in_st; /* only regular files can be opened a second time from the start */
    const int regular = !from_stdin && stat(o->input, &in_st) == 0 && S_ISREG(in_st.st_mode);
    byte_buf in;
    memset(&in, 0, sizeof in);
    if (from_stdin ? input_fill(STDIN_FILENO, &in, 4) != 0
                   : regular ? input_read_head(o->input, &in, 4) != 0
                             : input_read(o->input, &in) != 0) {
        if (from_stdin)
            diag_error(diag_name("-", 0), "cannot read input: %s", strerror(errno));
        byte_buf_free(&in);
        return 1;
    }
    const int decompress = is_ecdc(o->input, &in);
    char *owned = NULL;
    int out_is_wav = 0;
    rc = settle_output(o, decompress, &owned, &out_is_wav);
    if (rc == 0 && from_stdin) {
        struct stat st;
        const int pipe_like = fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode);
        if (decompress)
            rc = run_decompress_stream(o, &in, 1);
        else if (o->raw && pipe_like && !out_is_wav && !o->lm)
            rc = run_compress_stream(o, &in);
        else if (input_read_append(o->input, &in) != 0)
            rc = 1;
        else
            rc = run_compress(o, &in, out_is_wav);
    } else if (rc == 0 && regular && !decompress && !o->raw && !out_is_wav &&
               (rc = run_compress_file_stream(o)) != STREAM_FALLBACK) {
        /* done: streamed from the file */
    } else if (rc == 0 || rc == STREAM_FALLBACK) {
        if (regular) /* the whole file now */
            byte_buf_free(&in);
        rc = regular && input_read(o->input, &in) != 0 ? 1
             : decompress ? run_decompress_stream(o, &in, 0) /* output written as decoded */
                          : run_compress(o, &in, out_is_wav);
    }
    byte_buf_free(&in);
    free(owned);
    return rc;
}
