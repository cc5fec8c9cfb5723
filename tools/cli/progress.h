/* Progress line on stderr: stage, bar, elapsed time and real-time factor. Drawn only when
 * enabled and stderr is a terminal; otherwise every call is a no-op. */
#ifndef ENCODEC_CLI_PROGRESS_H
#define ENCODEC_CLI_PROGRESS_H

/* Start timing; label names the job ("in.wav -> out.ecdc"). */
void progress_begin(int enabled, const char *label);
/* Duration of the audio being processed, for the real-time factor. */
void progress_set_audio_seconds(double seconds);
/* Current stage and the share of the whole job it covers: [from, to] in 0..1. */
void progress_stage(const char *name, double from, double to);
/* Stop drawing; on success print a summary line with the real-time factor. */
void progress_end(int success);

/* Bracket other stderr output so it does not mix with the progress line. */
void progress_output_begin(void);
void progress_output_end(void);

#endif
