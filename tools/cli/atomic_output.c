/* Atomic output. The final name is only ever created by rename()/link() of a complete,
 * fsync'ed temporary file, so a crash, an error or Ctrl-C cannot leave a partial file; the
 * signal handler removes the temporary file itself. */
#include "atomic_output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Temporary file to remove if a signal arrives; read by the handler. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_active;

static void on_signal(int sig)
{
    if (tmp_active)
        unlink(tmp_path); /* async-signal-safe */
    /* SA_RESETHAND restored the default action: die by the same signal, as the shell expects. */
    raise(sig);
}

void output_install_signal_handlers(void)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
    /* Past a file-size limit (ulimit -f) SIGXFSZ would kill the process and leave the
     * temporary file; ignored, write() fails with EFBIG and the usual error path cleans up. */
    signal(SIGXFSZ, SIG_IGN);
}

/* Folder part of path ("." when there is none). */
static void folder_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

int output_check(const char *path, int force)
{
    if (strcmp(path, "-") == 0)
        return 0;
    char dir[PATH_MAX];
    struct stat st;
    folder_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        diag_error(path, "output folder %s does not exist", dir);
        return -1;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            diag_error(path, "output is a directory");
            return -1;
        }
        if (!force) {
            diag_error(path, "output file exists; use -f/--force to overwrite it");
            return -1;
        }
    }
    if (access(dir, W_OK) != 0) {
        diag_error(path, "cannot write to output folder %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t size)
{
    const unsigned char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

static int write_stdout(const void *data, size_t size)
{
    if (write_all(STDOUT_FILENO, data, size) != 0) {
        diag_error("<stdout>", "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Give the file the mode a plain creat() would have (mkstemp makes it 0600). */
static void set_default_mode(int fd)
{
    mode_t mask = umask(022);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
}

/* Move tmp to path. Without force, link() refuses to replace a file that appeared meanwhile;
 * file systems without hard links fall back to a check and rename(). */
static int publish(const char *tmp, const char *path, int force)
{
    if (!force) {
        if (link(tmp, path) == 0) {
            unlink(tmp);
            return 0;
        }
        if (errno == EEXIST)
            return -1;
        if (access(path, F_OK) == 0) {
            errno = EEXIST;
            return -1;
        }
    }
    return rename(tmp, path);
}

int output_open(out_stream *s, const char *path, int force)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->force = force;
    if (strcmp(path, "-") == 0) {
        s->is_stdout = 1;
        s->fd = STDOUT_FILENO;
        return 0;
    }
    char dir[PATH_MAX];
    folder_of(path, dir, sizeof dir);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[PATH_MAX];
    if (snprintf(name, sizeof name, "%s/.%s.tmp-XXXXXX", dir, base) >= (int)sizeof name) {
        diag_error(path, "file name too long");
        return -1;
    }
    /* Publish the name to the signal handler before the file exists, so that no moment
     * remains in which the file exists but the handler would not remove it. */
    tmp_active = 0;
    memcpy(tmp_path, name, strlen(name) + 1);
    tmp_active = 1;
    s->fd = mkstemp(tmp_path);
    if (s->fd < 0) {
        tmp_active = 0;
        diag_error(path, "cannot create a temporary file in %s: %s", dir, strerror(errno));
        return -1;
    }
    set_default_mode(s->fd);
    return 0;
}

int output_append(out_stream *s, const void *data, size_t size)
{
    if (s->is_stdout)
        return write_stdout(data, size);
    if (write_all(s->fd, data, size) != 0) {
        diag_error(s->path, "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int output_rewrite(out_stream *s, size_t offset, const void *data, size_t size)
{
    if (s->is_stdout)
        return 0;
    const ssize_t n = pwrite(s->fd, data, size, (off_t)offset);
    if (n != (ssize_t)size) { /* a short count sets no errno */
        diag_error(s->path, "write failed: %s", n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

void output_abort(out_stream *s)
{
    if (s->is_stdout || s->fd < 0)
        return;
    close(s->fd);
    s->fd = -1;
    unlink(tmp_path);
    tmp_active = 0;
}

int output_commit(out_stream *s)
{
    if (s->is_stdout)
        return 0;
    int err = 0;
    const char *what = "write failed";
    if (fsync(s->fd) != 0 && errno != EINVAL && errno != EROFS)
        err = errno;
    if (close(s->fd) != 0 && !err)
        err = errno;
    s->fd = -1;
    if (!err && publish(tmp_path, s->path, s->force) != 0) {
        err = errno;
        what = err == EEXIST ? "output file appeared meanwhile; not overwritten without -f"
                             : "cannot rename the temporary file into place";
    }
    if (err) {
        unlink(tmp_path);
        tmp_active = 0;
        if (err == EEXIST)
            diag_error(s->path, "%s", what);
        else
            diag_error(s->path, "%s: %s", what, strerror(err));
        return -1;
    }
    tmp_active = 0;
    return 0;
}

int output_write(const char *path, const void *data, size_t size, int force)
{
    out_stream s;
    if (output_open(&s, path, force) != 0)
        return -1;
    if (output_append(&s, data, size) != 0) {
        output_abort(&s);
        return -1;
    }
    return output_commit(&s);
}
