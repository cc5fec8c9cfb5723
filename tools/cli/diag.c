/* Diagnostics. Messages are forced onto one line (library messages and file names could carry
 * newlines) and coordinated with the progress line so the two never interleave. */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "progress.h"

static int quiet_flag;

void diag_set_quiet(int quiet) { quiet_flag = quiet; }
int diag_quiet(void) { return quiet_flag; }

const char *diag_name(const char *path, int is_output)
{
    if (path && strcmp(path, "-") == 0)
        return is_output ? "<stdout>" : "<stdin>";
    return path ? path : "";
}

static void emit(const char *file, const char *kind, const char *fmt, va_list ap)
{
    char line[2048];
    int n = 0;
    if (file)
        n = snprintf(line, sizeof line, "encodec: %s: %s", file, kind);
    else
        n = snprintf(line, sizeof line, "encodec: %s", kind);
    if (n < 0)
        return;
    if ((size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    progress_output_begin();
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    progress_output_end();
}

void diag_error(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(file, "", fmt, ap);
    va_end(ap);
}

void diag_warn(const char *file, const char *fmt, ...)
{
    if (quiet_flag)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(file, "warning: ", fmt, ap);
    va_end(ap);
}
