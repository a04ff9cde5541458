#ifndef SAMTRACK_CFFMPEG_SHIM_H
#define SAMTRACK_CFFMPEG_SHIM_H
// FFmpeg's C API for Swift. Debian packages: libavformat-dev libavcodec-dev libswscale-dev
// libavutil-dev libavdevice-dev. Function-like macros that Swift cannot import are re-exported
// below as inline functions and constants.
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/dict.h>
#include <libavutil/time.h>

/// AVERROR(e) for a POSIX errno value (FFmpeg returns negated errno codes).
static inline int samtrack_averror(int errnum) { return AVERROR(errnum); }
/// AVERROR_EOF: end of stream.
static inline int samtrack_averror_eof(void) { return AVERROR_EOF; }
/// AVERROR(EAGAIN): output not available in this state; send more input.
static inline int samtrack_averror_eagain(void) { return AVERROR(EAGAIN); }
/// AVERROR_INVALIDDATA: invalid data found when processing input.
static inline int samtrack_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
/// AV_NOPTS_VALUE: undefined timestamp.
static inline int64_t samtrack_nopts_value(void) { return AV_NOPTS_VALUE; }
/// av_err2str as a function writing into a caller buffer.
static inline const char *samtrack_error_string(int errnum, char *buffer, size_t size) {
    av_strerror(errnum, buffer, size);
    return buffer;
}
/// AVERROR_EXIT: the interrupt callback asked a blocking call to stop.
static inline int samtrack_averror_exit(void) { return AVERROR_EXIT; }
/// AVERROR_STREAM_NOT_FOUND: av_find_best_stream found no stream of the requested type.
static inline int samtrack_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
/// AVERROR_DECODER_NOT_FOUND: av_find_best_stream found a stream but no decoder for it.
static inline int samtrack_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
/// AVERROR_ENCODER_NOT_FOUND: no encoder for the requested codec.
static inline int samtrack_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }

/// State polled by FFmpeg's blocking I/O (AVIOInterruptCB) for one input: abort when `flag` is
/// set, when `shared` (a caller-owned flag, may be NULL) is set, or when the monotonic clock
/// (av_gettime_relative, microseconds) passes `deadline` (0 = none). Swift owns the memory.
typedef struct samtrack_interrupt_state {
    int flag;
    const int *shared;
    int64_t deadline;
} samtrack_interrupt_state;

/// AVIOInterruptCB.callback: non-zero tells FFmpeg to abort the blocking call (AVERROR_EXIT).
static inline int samtrack_interrupt_callback(void *opaque) {
    const samtrack_interrupt_state *state = (const samtrack_interrupt_state *)opaque;
    if (!state) return 0;
    if (__atomic_load_n(&state->flag, __ATOMIC_ACQUIRE)) return 1;
    if (state->shared && __atomic_load_n(state->shared, __ATOMIC_ACQUIRE)) return 1;
    int64_t deadline = __atomic_load_n(&state->deadline, __ATOMIC_ACQUIRE);
    return deadline > 0 && av_gettime_relative() > deadline;
}
/// Sets an int flag atomically (any thread).
static inline void samtrack_flag_store(int *flag, int value) {
    __atomic_store_n(flag, value, __ATOMIC_RELEASE);
}
/// Reads an int flag atomically (any thread).
static inline int samtrack_flag_load(const int *flag) {
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}
/// Sets the deadline of an interrupt state: `seconds` from now, or none when seconds <= 0.
static inline void samtrack_interrupt_set_timeout(samtrack_interrupt_state *state, double seconds) {
    int64_t deadline = seconds > 0 ? av_gettime_relative() + (int64_t)(seconds * 1e6) : 0;
    __atomic_store_n(&state->deadline, deadline, __ATOMIC_RELEASE);
}
/// Installs `state` as the interrupt callback of a format context (before avformat_open_input).
static inline void samtrack_install_interrupt(AVFormatContext *context, samtrack_interrupt_state *state) {
    context->interrupt_callback.callback = samtrack_interrupt_callback;
    context->interrupt_callback.opaque = state;
}
#endif
