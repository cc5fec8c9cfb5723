/* Diagnostics: one-line "encodec: FILE: problem" messages on stderr. */
#ifndef ENCODEC_CLI_DIAG_H
#define ENCODEC_CLI_DIAG_H

/* Silence warnings and notes (errors are always printed). */
void diag_set_quiet(int quiet);
int diag_quiet(void);

/* Name to show for a path: "-" becomes "<stdin>" or "<stdout>". */
const char *diag_name(const char *path, int is_output);

/* "encodec: FILE: message" (or "encodec: message" when file is NULL). */
void diag_error(const char *file, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* "encodec: FILE: warning: message", unless quiet. */
void diag_warn(const char *file, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
