/* Model search path. Names come from user input and from .ecdc headers (untrusted), so only
 * plain names are looked up: no '/', no leading '.', so a file cannot point elsewhere. */
#include "model_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"

#ifndef ENCODEC_SOURCE_WEIGHTS_DIR
#define ENCODEC_SOURCE_WEIGHTS_DIR ""
#endif
#ifndef ENCODEC_INSTALL_MODEL_DIR
#define ENCODEC_INSTALL_MODEL_DIR ""
#endif

static int valid_name(const char *name)
{
    if (!name[0] || name[0] == '.' || strlen(name) > 200)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '+'))
            return 0;
    }
    return 1;
}

/* Calls fn for each folder in order until it returns nonzero. */
static int each_dir(int (*fn)(const char *dir, size_t len, void *ctx), void *ctx)
{
    const char *env = getenv("ENCODEC_MODEL_PATH");
    if (env) {
        for (const char *p = env;;) {
            const char *end = strchr(p, ':');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len > 0 && fn(p, len, ctx))
                return 1;
            if (!end)
                break;
            p = end + 1;
        }
    }
    const char *fixed[] = {ENCODEC_SOURCE_WEIGHTS_DIR, ENCODEC_INSTALL_MODEL_DIR};
    for (size_t i = 0; i < 2; i++)
        if (fixed[i][0] && fn(fixed[i], strlen(fixed[i]), ctx))
            return 1;
    return 0;
}

typedef struct {
    const char *name;
    char *path;
    size_t size;
} find_ctx;

static int try_dir(const char *dir, size_t len, void *u)
{
    find_ctx *f = u;
    int n = snprintf(f->path, f->size, "%.*s/%s.safetensors", (int)len, dir, f->name);
    return n > 0 && (size_t)n < f->size && access(f->path, F_OK) == 0;
}

int model_find(const char *name, char *path, size_t size)
{
    if (!valid_name(name))
        return -1;
    find_ctx f = {name, path, size};
    return each_dir(try_dir, &f) ? 0 : -1;
}

typedef struct {
    char *out;
    size_t size, used;
} list_ctx;

static int add_dir(const char *dir, size_t len, void *u)
{
    list_ctx *l = u;
    int n = snprintf(l->out + l->used, l->size - l->used, "%s%.*s", l->used ? ":" : "",
                     (int)len, dir);
    if (n > 0 && (size_t)n < l->size - l->used)
        l->used += (size_t)n;
    return 0;
}

void model_search_path(char *out, size_t size)
{
    list_ctx l = {out, size, 0};
    out[0] = '\0';
    each_dir(add_dir, &l);
}

static encodec_model *load(const char *path)
{
    encodec_model *m = NULL;
    char msg[512] = "";
    int err = encodec_model_load_file(path, &m, msg, sizeof msg);
    if (err < 0) {
        /* The library's message already names the file; keep "encodec: FILE: problem". */
        size_t pl = strlen(path);
        if (msg[0] && strncmp(msg, path, pl) == 0 && msg[pl] == ':')
            diag_error(path, "invalid model: %s", msg + pl + 1 + (msg[pl + 1] == ' '));
        else if (msg[0])
            diag_error(path, "invalid model: %s", msg);
        else
            diag_error(path, "cannot load model: %s", encodec_strerror(err));
        return NULL;
    }
    return m;
}

/* "dir/NAME.safetensors" -> "dir/NAME_lm.safetensors" */
static int sibling_lm(const char *model_file, char *out, size_t size)
{
    const char *ext = ".safetensors";
    size_t n = strlen(model_file), e = strlen(ext);
    if (n > e && strcmp(model_file + n - e, ext) == 0)
        n -= e;
    int w = snprintf(out, size, "%.*s_lm%s", (int)n, model_file, ext);
    return w > 0 && (size_t)w < size ? 0 : -1;
}

int model_attach_lm(encodec_model *m, const char *model_file, const char *lm_file,
                    const char *context)
{
    char path[4096], lm_name[256];
    snprintf(lm_name, sizeof lm_name, "%s_lm", encodec_model_name(m));
    if (lm_file) {
        if (access(lm_file, F_OK) != 0) {
            diag_error(lm_file, "language model file does not exist");
            return -1;
        }
        snprintf(path, sizeof path, "%s", lm_file);
    } else if (!(model_file && sibling_lm(model_file, path, sizeof path) == 0 &&
                 access(path, F_OK) == 0) &&
               model_find(lm_name, path, sizeof path) != 0) {
        char dirs[4096];
        model_search_path(dirs, sizeof dirs);
        diag_error(context, "language model \"%s\" for entropy coding not found: no "
                   "%s.safetensors %s%s; use --lm-model FILE", lm_name, lm_name,
                   model_file ? "beside the model or in " : "in ",
                   dirs[0] ? dirs : "the (empty) search path");
        return -1;
    }
    char msg[512] = "";
    int err = encodec_model_load_lm_file(m, path, msg, sizeof msg);
    if (err < 0) {
        size_t pl = strlen(path);
        if (msg[0] && strncmp(msg, path, pl) == 0 && msg[pl] == ':')
            diag_error(path, "invalid language model: %s", msg + pl + 1 + (msg[pl + 1] == ' '));
        else if (msg[0])
            diag_error(path, "invalid language model: %s", msg);
        else
            diag_error(path, "cannot load language model: %s", encodec_strerror(err));
        return -1;
    }
    return 0;
}

encodec_model *model_open(const char *file, const char *name, const char *context)
{
    if (file) {
        if (access(file, F_OK) != 0) {
            diag_error(file, "model file does not exist");
            return NULL;
        }
        return load(file);
    }
    char path[4096];
    if (model_find(name, path, sizeof path) == 0)
        return load(path);
    char dirs[4096];
    model_search_path(dirs, sizeof dirs);
    if (!valid_name(name))
        diag_error(context, "invalid model name \"%.64s\"", name);
    else
        diag_error(context, "model \"%s\" not found: no %s.safetensors in %s; use --model FILE "
                   "or set ENCODEC_MODEL_PATH", name, name, dirs[0] ? dirs : "(empty search path)");
    return NULL;
}
