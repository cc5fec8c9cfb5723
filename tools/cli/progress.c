/* Progress line. The library encodes and decodes a whole signal in one call and offers no
 * progress callback, so the bar advances by stage (weights chosen per job) and a marker moves
 * within the running stage to show activity; elapsed time and the real-time factor are exact.
 * A helper thread redraws every 100 ms; a mutex keeps it and diagnostics apart. */
#include "progress.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int active;   /* thread running */
    int stopping;
    int drawn;    /* a progress line is on screen */
    int ticks;
    struct timespec t0;
    double audio_seconds;
    char label[96];
    char stage[32];
    double from, to;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static double elapsed(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - P.t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - P.t0.tv_nsec);
}

/* Called with the lock held. */
static void draw(void)
{
    char bar[BAR_WIDTH + 1];
    int full = (int)(P.from * BAR_WIDTH + 0.5);
    int end = (int)(P.to * BAR_WIDTH + 0.5);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < full ? '#' : '-';
    if (end > full) /* activity marker bouncing inside the running stage */
        bar[full + P.ticks % (end - full)] = '>';
    bar[BAR_WIDTH] = '\0';
    double t = elapsed();
    char rtf[32] = "";
    if (P.audio_seconds > 0 && t > 0)
        snprintf(rtf, sizeof rtf, "  %.1fx real time", P.audio_seconds / t);
    /* keep the line under 80 columns: long labels lose their start */
    size_t len = strlen(P.label);
    const char *label = len > 36 ? P.label + len - 33 : P.label;
    fprintf(stderr, "\r\033[K%s%s %-10s [%s] %d:%04.1f%s", len > 36 ? "..." : "", label,
            P.stage, bar,
            (int)(t / 60), t - 60 * (int)(t / 60), rtf);
    fflush(stderr);
    P.drawn = 1;
}

static void clear_line(void)
{
    if (P.drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        P.drawn = 0;
    }
}

static void *run(void *arg)
{
    (void)arg;
    /* Leave SIGINT/SIGTERM to the other threads: the output module cleans up there. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&P.lock);
    while (!P.stopping) {
        draw();
        P.ticks++;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&P.wake, &P.lock, &until);
    }
    pthread_mutex_unlock(&P.lock);
    return NULL;
}

void progress_begin(int enabled, const char *label)
{
    clock_gettime(CLOCK_MONOTONIC, &P.t0);
    snprintf(P.label, sizeof P.label, "%s", label ? label : "");
    snprintf(P.stage, sizeof P.stage, "starting");
    P.from = 0;
    P.to = 0;
    if (!enabled || !isatty(STDERR_FILENO))
        return;
    P.stopping = 0;
    if (pthread_create(&P.thread, NULL, run, NULL) == 0)
        P.active = 1;
}

void progress_set_audio_seconds(double seconds)
{
    pthread_mutex_lock(&P.lock);
    P.audio_seconds = seconds;
    pthread_mutex_unlock(&P.lock);
}

void progress_stage(const char *name, double from, double to)
{
    pthread_mutex_lock(&P.lock);
    snprintf(P.stage, sizeof P.stage, "%s", name);
    P.from = from;
    P.to = to;
    P.ticks = 0;
    if (P.active)
        draw();
    pthread_mutex_unlock(&P.lock);
}

void progress_end(int success)
{
    if (!P.active)
        return;
    pthread_mutex_lock(&P.lock);
    P.stopping = 1;
    pthread_cond_signal(&P.wake);
    pthread_mutex_unlock(&P.lock);
    pthread_join(P.thread, NULL);
    P.active = 0;
    clear_line();
    if (success) {
        double t = elapsed();
        if (P.audio_seconds > 0 && t > 0)
            fprintf(stderr, "encodec: %s: %.2f s of audio in %.2f s (%.1fx real time)\n",
                    P.label, P.audio_seconds, t, P.audio_seconds / t);
        else
            fprintf(stderr, "encodec: %s: done in %.2f s\n", P.label, t);
    }
}

void progress_output_begin(void)
{
    pthread_mutex_lock(&P.lock);
    clear_line();
}

void progress_output_end(void) { pthread_mutex_unlock(&P.lock); }
