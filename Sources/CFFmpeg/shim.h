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
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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
/// Confinement of one input to local files under some directories (Media's `InputConfinement`).
/// Installed as the format context's `io_open`, which FFmpeg calls for the input itself and for
/// every file a demuxer opens on its behalf (image-sequence frames, playlist segments, MP4
/// references); the previous `io_open` (FFmpeg's default, which applies the protocol whitelist)
/// does the actual opening. Swift owns the memory; `roots` are realpath-resolved directories.
typedef struct samtrack_confinement {
    const char *const *roots;
    int root_count;
    int (*default_open)(struct AVFormatContext *, AVIOContext **, const char *, int, AVDictionary **);
    /// Set (to 1) when a URL was refused; `refused_url` holds it (truncated to fit).
    int refused;
    char refused_url[1024];
} samtrack_confinement;

static inline void samtrack_confinement_refuse(samtrack_confinement *c, const char *url) {
    c->refused = 1;
    strncpy(c->refused_url, url, sizeof(c->refused_url) - 1);
    c->refused_url[sizeof(c->refused_url) - 1] = 0;
}

/// Length of the protocol name at the start of `url` as FFmpeg finds it (url_find_protocol), or 0
/// for a plain path. `subfile,,...:` URLs carry options before the colon.
static inline size_t samtrack_url_scheme_length(const char *url) {
    size_t length = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (length > 0 && url[length] == ':') return length;
    if (strncmp(url, "subfile,", 8) == 0 && strchr(url + 8, ':')) return 7;
    return 0;
}

/// True when `path` (resolved) is `root` or lies below it.
static inline int samtrack_path_is_under(const char *path, const char *root) {
    size_t length = strlen(root);
    if (length == 1 && root[0] == '/') return path[0] == '/';
    return strncmp(path, root, length) == 0 && (path[length] == 0 || path[length] == '/');
}

/// AVFormatContext.io_open of a confined input: only `file:` URLs and plain paths whose realpath
/// lies under one of the roots are opened (by the default io_open, on the resolved path); any
/// other URL fails with AVERROR(EPERM) and is recorded. A path that does not resolve fails with
/// its errno (so a missing file stays "No such file or directory").
static inline int samtrack_confined_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url,
                                            int flags, AVDictionary **options) {
    samtrack_confinement *c = s ? (samtrack_confinement *)s->opaque : NULL;
    if (!c || !c->default_open || !url) return AVERROR(EPERM);  // a nested context that copied io_open alone
    size_t scheme = samtrack_url_scheme_length(url);
    const char *path = url;
    if (scheme > 0) {
        if (scheme == 4 && strncmp(url, "file", 4) == 0) {
            path = url + 5;
        } else {
            samtrack_confinement_refuse(c, url);
            return AVERROR(EPERM);
        }
    }
    if ((flags & AVIO_FLAG_WRITE) != 0) {
        samtrack_confinement_refuse(c, url);
        return AVERROR(EPERM);
    }
    char resolved[PATH_MAX];
    if (!realpath(path, resolved)) return AVERROR(errno);
    for (int i = 0; i < c->root_count; i++) {
        if (samtrack_path_is_under(resolved, c->roots[i])) {
            return c->default_open(s, pb, resolved, flags, options);
        }
    }
    samtrack_confinement_refuse(c, url);
    return AVERROR(EPERM);
}

/// Confines `context` (allocated, not yet opened) with `confinement`, whose roots the caller set:
/// remembers the default io_open and installs the confined one.
static inline void samtrack_install_confinement(AVFormatContext *context, samtrack_confinement *confinement) {
    confinement->default_open = context->io_open;
    confinement->refused = 0;
    confinement->refused_url[0] = 0;
    context->opaque = confinement;
    context->io_open = samtrack_confined_io_open;
}
#endif
