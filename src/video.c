/* Video input: libavformat/libavcodec decoding, numpy-exact frame sampling and
 * PyAV-exact (swscale) conversion of the sampled frames to RGB. */
#include "video_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if GITC_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#endif

/* numpy's np.round (round half to even) of a non-negative double. */
static int round_half_even(double y)
{
    double f = floor(y);
    double d = y - f; /* exact: f and y are within a factor of two, or f == 0 */
    if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return (int)f;
}

/* numpy 1.24's linspace(0, n_total - 1, n_sample) followed by .round(): step is
 * (stop - start) / (num - 1), value i is i * step (start is 0), the last value is
 * stop itself; with step == 0 numpy divides first and multiplies by delta after
 * (both give 0 here); with num == 1 the single value is 0. */
void gitc_video_sample_indices(int n_total, int n_sample, int *indices)
{
    if (!indices || n_sample <= 0)
        return;
    double stop = n_total > 1 ? (double)(n_total - 1) : 0.0;
    int div = n_sample - 1;
    double step = div > 0 ? stop / (double)div : 0.0;
    for (int i = 0; i < n_sample; i++) {
        double y;
        if (div == 0)
            y = (double)i * stop;
        else if (step == 0.0)
            y = (double)i / (double)div * stop;
        else
            y = (double)i * step;
        if (div > 0 && i == div)
            y = stop;
        indices[i] = round_half_even(y);
    }
}

#if GITC_HAVE_FFMPEG

/* ------------------------------------------------------------------ */
/* FFmpeg logging                                                      */
/* ------------------------------------------------------------------ */

/* FFmpeg's log level is process-global. gitc silences it only while one of its
 * decodes runs (reference-counted across threads) and restores the caller's
 * level afterwards, unless the caller changed it in the meantime. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_users;
static int log_saved_level;

static void log_quiet_begin(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_users++ == 0) {
        log_saved_level = av_log_get_level();
        av_log_set_level(AV_LOG_QUIET);
    }
    pthread_mutex_unlock(&log_lock);
}

static void log_quiet_end(void)
{
    pthread_mutex_lock(&log_lock);
    if (--log_users == 0 && av_log_get_level() == AV_LOG_QUIET)
        av_log_set_level(log_saved_level);
    pthread_mutex_unlock(&log_lock);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

typedef struct decoder {
    const char *path;
    AVFormatContext *fmt;
    AVCodecContext *codec;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    uint64_t max_pixels;
    /* Reading from memory (video_internal.h) instead of a file: */
    const uint8_t *mem;
    size_t mem_size, mem_pos;
    AVIOContext *avio;
    int max_frames; /* frames a pass may decode; 0: no limit */
} decoder;

/* What a decoding pass does with each frame: count it, or also keep the
 * frames whose index is in the sorted list `want`. */
typedef struct frame_sink {
    const int *want;     /* [n_want] non-decreasing frame indices, or NULL to only count */
    int n_want;
    int next;            /* first entry of want not yet filled */
    gitc_image *frames;  /* [n_want] outputs */
    int count;           /* frames decoded so far */
    struct SwsContext *sws;
} frame_sink;

static const char *av_err(int rc, char *buf, size_t size)
{
    if (av_strerror(rc, buf, size) < 0)
        snprintf(buf, size, "FFmpeg error %d", rc);
    return buf;
}

static void decoder_close(decoder *d)
{
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->codec);
    avformat_close_input(&d->fmt);
    if (d->avio) {
        av_freep(&d->avio->buffer);
        avio_context_free(&d->avio);
    }
}

/* AVIOContext callbacks over d->mem. */
static int mem_read(void *opaque, uint8_t *buf, int size)
{
    decoder *d = opaque;
    size_t n = GITC_MIN((size_t)size, d->mem_size - d->mem_pos);
    if (n == 0)
        return AVERROR_EOF;
    memcpy(buf, d->mem + d->mem_pos, n);
    d->mem_pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    decoder *d = opaque;
    if (whence & AVSEEK_SIZE)
        return (int64_t)d->mem_size;
    int64_t base = (whence & 3) == SEEK_CUR ? (int64_t)d->mem_pos
                 : (whence & 3) == SEEK_END ? (int64_t)d->mem_size : 0;
    if (offset < -base || offset > (int64_t)d->mem_size - base)
        return AVERROR(EINVAL);
    d->mem_pos = (size_t)(base + offset);
    return (int64_t)d->mem_pos;
}

/* Refuses frames larger than params->max_pixels (checked before any conversion). */
static gitc_status check_size(const decoder *d, int width, int height, gitc_error *err)
{
    if (width <= 0 || height <= 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: video frame has invalid size %dx%d", d->path,
                          width, height);
    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    if (d->max_pixels && pixels > d->max_pixels)
        return gitci_fail(err, GITC_ERR_LIMIT,
                          "%s: video frames are %dx%d = %llu pixels, more than max_pixels %llu",
                          d->path, width, height, (unsigned long long)pixels,
                          (unsigned long long)d->max_pixels);
    return GITC_OK;
}

/* Opens the container, picks its first video stream and opens its decoder. */
static gitc_status decoder_open(decoder *d, gitc_error *err)
{
    char msg[128];
    AVDictionary *opts = NULL;
    /* Only local files: a path must never become a network URL. */
    if (av_dict_set(&opts, "protocol_whitelist", "file", 0) < 0)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", d->path);
    if (d->mem) {
        uint8_t *buf = av_malloc(4096);
        d->fmt = avformat_alloc_context();
        d->avio = buf ? avio_alloc_context(buf, 4096, 0, d, mem_read, NULL, mem_seek) : NULL;
        if (!d->avio)
            av_free(buf);
        if (!d->fmt || !d->avio) {
            av_dict_free(&opts);
            return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", d->path);
        }
        d->fmt->pb = d->avio;
        d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    int rc = avformat_open_input(&d->fmt, d->path, NULL, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        d->fmt = NULL;
        if (rc == AVERROR(ENOMEM))
            return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", d->path);
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: not a readable video file (%s)", d->path,
                          av_err(rc, msg, sizeof msg));
    }
    /* Sizes the header declares, refused before stream probing decodes (and allocates) a frame. */
    for (unsigned i = 0; i < d->fmt->nb_streams; i++) {
        const AVCodecParameters *par = d->fmt->streams[i]->codecpar;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && par->width > 0 && par->height > 0) {
            gitc_status s = check_size(d, par->width, par->height, err);
            if (s)
                return s;
        }
    }
    rc = avformat_find_stream_info(d->fmt, NULL);
    if (rc < 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: cannot read stream information (%s)", d->path,
                          av_err(rc, msg, sizeof msg));

    /* The first video stream, as PyAV's container.decode(video=0); cover art
     * (attached pictures) is not video. */
    d->stream = -1;
    for (unsigned i = 0; i < d->fmt->nb_streams; i++) {
        const AVStream *st = d->fmt->streams[i];
        if (d->stream < 0 && st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            d->stream = (int)i;
        else
            d->fmt->streams[i]->discard = AVDISCARD_ALL;
    }
    if (d->stream < 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: no video stream (container %s)", d->path,
                          d->fmt->iformat->name);

    const AVCodecParameters *par = d->fmt->streams[d->stream]->codecpar;
    if (par->width > 0 && par->height > 0) {
        gitc_status s = check_size(d, par->width, par->height, err);
        if (s)
            return s;
    }
    if (par->codec_id == AV_CODEC_ID_NONE)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: the video stream names no codec (damaged header?)", d->path);
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: no decoder for video codec %s", d->path,
                          avcodec_get_name(par->codec_id));
    d->codec = avcodec_alloc_context3(codec);
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->codec || !d->pkt || !d->frame)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", d->path);
    rc = avcodec_parameters_to_context(d->codec, par);
    if (rc >= 0) {
        d->codec->pkt_timebase = d->fmt->streams[d->stream]->time_base;
        rc = avcodec_open2(d->codec, codec, NULL);
    }
    if (rc < 0)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: cannot open the %s decoder (%s)", d->path,
                          codec->name, av_err(rc, msg, sizeof msg));
    return GITC_OK;
}

/* Converts a decoded frame to packed RGB24 as PyAV 10's
 * frame.to_ndarray(format="rgb24") does: sws_getCachedContext with the same
 * size, SWS_BILINEAR and no sws_setColorspaceDetails call (PyAV only calls it
 * when src and dst colorspaces differ, and both default to SWS_CS_DEFAULT), so
 * swscale uses BT.601 and derives the range from the pixel format alone
 * (limited for yuv*, full for yuvj*); the frame's color_range and colorspace
 * tags are ignored, as in PyAV 10. The destination is allocated like PyAV's
 * (av_image_alloc, 16-byte aligned rows) since swscale's SIMD tail handling
 * depends on the stride; the rows are then copied out unpadded. */
static gitc_status frame_to_rgb(const decoder *d, frame_sink *sink, const AVFrame *f,
                                gitc_image *out, gitc_error *err)
{
    int w = f->width, h = f->height;
    if (f->format < 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: decoded frame has no pixel format", d->path);
    sink->sws = sws_getCachedContext(sink->sws, w, h, (enum AVPixelFormat)f->format, w, h,
                                     AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!sink->sws) {
        const char *name = av_get_pix_fmt_name((enum AVPixelFormat)f->format);
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB",
                          d->path, name ? name : "?");
    }
    uint8_t *dst[4] = {NULL};
    int dst_stride[4] = {0};
    if (av_image_alloc(dst, dst_stride, w, h, AV_PIX_FMT_RGB24, 16) < 0)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory converting a %dx%d frame",
                          d->path, w, h);
    size_t row = (size_t)w * 3;
    uint8_t *rgb = malloc(row * (size_t)h);
    if (!rgb) {
        av_freep(&dst[0]);
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for a %dx%d frame", d->path, w,
                          h);
    }
    int rc = sws_scale(sink->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst,
                       dst_stride);
    if (rc < 0) {
        char msg[128];
        av_freep(&dst[0]);
        free(rgb);
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: RGB conversion failed (%s)", d->path,
                          av_err(rc, msg, sizeof msg));
    }
    for (int y = 0; y < h; y++)
        memcpy(rgb + (size_t)y * row, dst[0] + (size_t)y * (size_t)dst_stride[0], row);
    av_freep(&dst[0]);
    out->width = w;
    out->height = h;
    out->rgb = rgb;
    return GITC_OK;
}

/* Counts one decoded frame and, when its index is wanted, converts it into
 * every output slot that asks for it. */
static gitc_status take_frame(const decoder *d, frame_sink *sink, const AVFrame *f,
                              gitc_error *err)
{
    gitc_status s = check_size(d, f->width, f->height, err);
    if (s)
        return s;
    if (d->max_frames && sink->count >= d->max_frames)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: more than %d video frames", d->path,
                          d->max_frames);
    int index = sink->count++;
    if (!sink->want || sink->next >= sink->n_want || sink->want[sink->next] != index)
        return GITC_OK;
    gitc_image *first = &sink->frames[sink->next];
    s = frame_to_rgb(d, sink, f, first, err);
    if (s)
        return s;
    sink->next++;
    while (sink->next < sink->n_want && sink->want[sink->next] == index) {
        gitc_image *copy = &sink->frames[sink->next];
        size_t n = (size_t)first->width * (size_t)first->height * 3;
        copy->rgb = malloc(n);
        if (!copy->rgb)
            return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory copying a frame", d->path);
        memcpy(copy->rgb, first->rgb, n);
        copy->width = first->width;
        copy->height = first->height;
        sink->next++;
    }
    return GITC_OK;
}

/* Receives every frame the decoder has ready. */
static gitc_status drain(decoder *d, frame_sink *sink, gitc_error *err)
{
    for (;;) {
        int rc = avcodec_receive_frame(d->codec, d->frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return GITC_OK;
        if (rc < 0) {
            char msg[128];
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: decoding error after frame %d (%s)",
                              d->path, sink->count, av_err(rc, msg, sizeof msg));
        }
        gitc_status s = take_frame(d, sink, d->frame, err);
        av_frame_unref(d->frame);
        if (s)
            return s;
    }
}

/* One pass over the file: demux the video stream, decode every packet in
 * order, flush the decoder at the end. A pass that only needs frames up to a
 * known index stops once it has them. Any demuxing or decoding error fails the
 * pass; the end of the file (even a truncated one) ends it normally. */
static gitc_status decode_pass(decoder *d, frame_sink *sink, gitc_error *err)
{
    char msg[128];
    gitc_status s = decoder_open(d, err);
    for (;;) {
        if (s || (sink->want && sink->next >= sink->n_want))
            return s;
        int rc = av_read_frame(d->fmt, d->pkt);
        if (rc == AVERROR_EOF)
            break;
        if (rc < 0) {
            if (rc == AVERROR(ENOMEM))
                return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", d->path);
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: read error after frame %d (%s)", d->path,
                              sink->count, av_err(rc, msg, sizeof msg));
        }
        /* A packet the demuxer marks corrupt (typically the last one of a
         * truncated file, cut short) is skipped, not decoded. */
        if (d->pkt->stream_index == d->stream && !(d->pkt->flags & AV_PKT_FLAG_CORRUPT)) {
            rc = avcodec_send_packet(d->codec, d->pkt);
            if (rc < 0 && rc != AVERROR(EAGAIN))
                s = gitci_fail(err, GITC_ERR_FORMAT, "%s: decoding error after frame %d (%s)",
                               d->path, sink->count, av_err(rc, msg, sizeof msg));
            else
                s = drain(d, sink, err);
        }
        av_packet_unref(d->pkt);
    }
    int rc = avcodec_send_packet(d->codec, NULL);
    if (rc < 0 && rc != AVERROR_EOF)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: decoding error at the end (%s)", d->path,
                          av_err(rc, msg, sizeof msg));
    return drain(d, sink, err);
}

/* Checks that `path` names a readable regular file, for a clear message. */
static gitc_status check_file(const char *path, gitc_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gitci_fail(err, GITC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return gitci_fail(err, GITC_ERR_IO, "%s: not a regular file", path);
    return GITC_OK;
}

/* ------------------------------------------------------------------ */
/* Seeking to the sampled frames                                       */
/* ------------------------------------------------------------------ */

/* Not an error: the fast path cannot vouch for its frames, decode everything. */
#define FALLBACK ((gitc_status)-1)

/* One video packet in decode order, from a demux-only pass. */
typedef struct packet_info {
    int64_t pts, dts;
    int key;
} packet_info;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Index of `pts` in the sorted array, or -1. */
static int find_pts(const int64_t *sorted, int n, int64_t pts)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (sorted[mid] == pts)
            return mid;
        if (sorted[mid] < pts)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Reads every video packet without decoding it: their timestamps and key
 * flags, in decode order. FALLBACK when the packets do not match the
 * container's frame count or lack timestamps; never fails otherwise. */
static gitc_status scan_packets(decoder *d, int64_t n_container, packet_info **out, int *n_out)
{
    packet_info *info = NULL;
    int n = 0, cap = 0;
    gitc_status s = GITC_OK;
    for (;;) {
        int rc = av_read_frame(d->fmt, d->pkt);
        if (rc == AVERROR_EOF)
            break;
        if (rc < 0) {
            s = FALLBACK;
            break;
        }
        if (d->pkt->stream_index == d->stream) {
            /* Packets the decoder would skip or drop make the count uncertain. */
            if ((d->pkt->flags & (AV_PKT_FLAG_CORRUPT | AV_PKT_FLAG_DISCARD)) ||
                d->pkt->pts == AV_NOPTS_VALUE || n >= n_container || (n == 0 && !(d->pkt->flags & AV_PKT_FLAG_KEY))) {
                s = FALLBACK;
            } else {
                if (n == cap) {
                    int c = cap ? 2 * cap : 1024;
                    packet_info *grown = realloc(info, sizeof *info * (size_t)c);
                    if (!grown)
                        s = FALLBACK;
                    info = grown ? grown : info;
                    cap = grown ? c : cap;
                }
                if (s == GITC_OK)
                    info[n++] = (packet_info){d->pkt->pts, d->pkt->dts,
                                              (d->pkt->flags & AV_PKT_FLAG_KEY) != 0};
            }
        }
        av_packet_unref(d->pkt);
        if (s != GITC_OK)
            break;
    }
    if (s == GITC_OK && n != n_container)
        s = FALLBACK;
    if (s != GITC_OK) {
        free(info);
        return s;
    }
    *out = info;
    *n_out = n;
    return GITC_OK;
}

/* Seeks to key packet `key` (decode order) and resets the decoder. */
static gitc_status seek_to(decoder *d, const packet_info *key)
{
    int64_t ts = key->dts != AV_NOPTS_VALUE ? key->dts : key->pts;
    if (av_seek_frame(d->fmt, d->stream, ts, AVSEEK_FLAG_BACKWARD) < 0)
        return FALLBACK;
    avcodec_flush_buffers(d->codec);
    return GITC_OK;
}

/* The frames of a clip whose container knows its frame count (and whose
 * packets agree with it): frame i of the decoded clip is the frame with the
 * i-th smallest timestamp, so each sampled frame is reached by seeking to the
 * key frame before it and decoding from there. Decoded frames are identified
 * by their timestamps and must come out consecutive; anything else (a
 * timestamp not in the list, a gap, a missing frame, a decoding error) gives
 * FALLBACK, and the caller decodes the whole clip instead. */
static gitc_status load_by_seeking(const char *path, const gitc_image_params *p, int n_frames,
                                   gitc_image *frames, int *n_total, gitc_error *err)
{
    decoder d = {.path = path, .max_pixels = p->max_pixels};
    packet_info *info = NULL;
    int64_t *sorted = NULL;
    int *want = NULL, *decode_pos = NULL;
    frame_sink sink = {0};
    int n = 0;
    gitc_status s = decoder_open(&d, err);
    if (s)
        goto done;
    int64_t n_container = d.fmt->streams[d.stream]->nb_frames;
    if (n_container <= 0 || n_container > INT32_MAX / 2) {
        s = FALLBACK;
        goto done;
    }
    s = scan_packets(&d, n_container, &info, &n);
    if (s)
        goto done;
    sorted = malloc(sizeof *sorted * (size_t)n);
    want = malloc(sizeof *want * (size_t)n_frames);
    decode_pos = malloc(sizeof *decode_pos * (size_t)n); /* presentation index -> decode index */
    if (!sorted || !want || !decode_pos) {
        s = FALLBACK;
        goto done;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = info[i].pts;
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
    for (int i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            s = FALLBACK;
            goto done;
        }
    int max_gop = 1, last_key = 0;
    for (int i = 0; i < n; i++) {
        decode_pos[find_pts(sorted, n, info[i].pts)] = i;
        if (info[i].key) {
            max_gop = GITC_MAX(max_gop, i - last_key);
            last_key = i;
        }
    }
    max_gop = GITC_MAX(max_gop, n - last_key);
    gitc_video_sample_indices(n, n_frames, want);

    /* Decode from the start of the file, as the full decode does. */
    decoder_close(&d);
    d = (decoder){.path = path, .max_pixels = p->max_pixels};
    s = decoder_open(&d, err);
    int pos = -1;  /* presentation index of the last frame output, -1 after a seek */
    int at_eof = 0;
    int fresh = 1; /* opened, nothing decoded: no seek needed for the first target */
    for (int w = 0; s == GITC_OK && w < n_frames; w++) {
        if (w > 0 && want[w] == want[w - 1]) {
            size_t bytes = (size_t)frames[w - 1].width * frames[w - 1].height * 3;
            frames[w].rgb = malloc(bytes);
            if (!frames[w].rgb) {
                s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory copying a frame", path);
                break;
            }
            memcpy(frames[w].rgb, frames[w - 1].rgb, bytes);
            frames[w].width = frames[w - 1].width;
            frames[w].height = frames[w - 1].height;
            continue;
        }
        int target = want[w];
        /* Keep decoding forward when the target is near; otherwise seek to the
         * last key packet at or before the target's packet. */
        if (!fresh && (at_eof || pos < 0 || target <= pos || target - pos > max_gop)) {
            int k = decode_pos[target];
            while (k > 0 && !info[k].key)
                k--;
            s = seek_to(&d, &info[k]);
            pos = -1;
            at_eof = 0;
        }
        int from_start = fresh;
        fresh = 0;
        int found = 0;
        while (s == GITC_OK && !found) {
            int rc = avcodec_receive_frame(d.codec, d.frame);
            if (rc == AVERROR(EAGAIN) && !at_eof) {
                rc = av_read_frame(d.fmt, d.pkt);
                if (rc == AVERROR_EOF) {
                    at_eof = 1;
                    rc = avcodec_send_packet(d.codec, NULL);
                    s = rc < 0 && rc != AVERROR_EOF ? FALLBACK : GITC_OK;
                } else if (rc < 0) {
                    s = FALLBACK;
                } else {
                    if (d.pkt->stream_index == d.stream) {
                        if (d.pkt->flags & (AV_PKT_FLAG_CORRUPT | AV_PKT_FLAG_DISCARD))
                            s = FALLBACK;
                        else if ((rc = avcodec_send_packet(d.codec, d.pkt)) < 0 && rc != AVERROR(EAGAIN))
                            s = FALLBACK;
                    }
                    av_packet_unref(d.pkt);
                }
                continue;
            }
            if (rc < 0) { /* EOF without the target, or a decoding error */
                s = FALLBACK;
                break;
            }
            int64_t ts = d.frame->pts != AV_NOPTS_VALUE ? d.frame->pts : d.frame->best_effort_timestamp;
            int j = ts == AV_NOPTS_VALUE ? -1 : find_pts(sorted, n, ts);
            /* From the start of the file the first frame out must be frame 0
             * (else the full decode would count differently); after that, and
             * after a seek, frames must follow each other. */
            int expect = pos >= 0 ? pos + 1 : from_start ? 0 : -1;
            if (j < 0 || (expect >= 0 && j != expect) || j > target) {
                s = FALLBACK;
            } else {
                pos = j;
                if (j == target) {
                    s = check_size(&d, d.frame->width, d.frame->height, err);
                    if (s == GITC_OK)
                        s = frame_to_rgb(&d, &sink, d.frame, &frames[w], err);
                    found = 1;
                }
            }
            av_frame_unref(d.frame);
        }
    }
    if (s == GITC_OK)
        *n_total = n;
done:
    if (s != GITC_OK)
        for (int i = 0; i < n_frames; i++)
            gitc_image_free(&frames[i]);
    sws_freeContext(sink.sws);
    decoder_close(&d);
    free(info);
    free(sorted);
    free(want);
    free(decode_pos);
    return s;
}

static gitc_status load_frames(const char *path, const uint8_t *mem, size_t mem_size,
                               int max_frames, int n_frames, const gitc_image_params *params,
                               gitc_image *frames, int *n_total, gitc_error *err);

/* Without a usable container frame count (or when seeking cannot vouch for
 * its frames) the file is decoded twice: the first pass counts the frames, the
 * second keeps only the sampled ones, so memory stays at one decoder plus the
 * n_frames outputs whatever the clip length. */
gitc_status gitci_video_load_mode(const char *path, int n_frames, const gitc_image_params *params,
                                  gitc_image *frames, int *n_total, int allow_seek, int *seeked,
                                  gitc_error *err)
{
    if (n_total)
        *n_total = 0;
    if (seeked)
        *seeked = 0;
    if (!path || !frames || n_frames <= 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "%s: video load needs a path, n_frames > 0 (got %d) and an output array",
                          path ? path : "(null)", n_frames);
    memset(frames, 0, sizeof *frames * (size_t)n_frames);
    gitc_status s = check_file(path, err);
    if (s)
        return s;
    gitc_image_params p = params ? *params : gitc_image_default_params();
    log_quiet_begin();
    int seek_total = 0;
    s = allow_seek ? load_by_seeking(path, &p, n_frames, frames, &seek_total, err) : FALLBACK;
    log_quiet_end();
    if (s != FALLBACK) {
        if (seeked)
            *seeked = s == GITC_OK;
        if (s == GITC_OK && n_total)
            *n_total = seek_total;
        return s;
    }
    return load_frames(path, NULL, 0, GITC_VIDEO_MAX_FRAMES, n_frames, &p, frames, n_total, err);
}

gitc_status gitci_video_load_memory(const void *data, size_t size, const char *name, int max_frames,
                                    int n_frames, const gitc_image_params *params,
                                    gitc_image *frames, int *n_total, gitc_error *err)
{
    if (n_total)
        *n_total = 0;
    if (!name)
        name = "video";
    if (!data || !frames || n_frames <= 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "%s: video load needs data, n_frames > 0 (got %d) and an output array",
                          name, n_frames);
    memset(frames, 0, sizeof *frames * (size_t)n_frames);
    gitc_image_params p = params ? *params : gitc_image_default_params();
    return load_frames(name, data, size, max_frames, n_frames, &p, frames, n_total, err);
}

/* The two decoding passes over a file (mem NULL) or over memory: the first
 * counts the frames, the second keeps only the sampled ones, so memory stays at
 * one decoder plus the n_frames outputs whatever the clip length. */
static gitc_status load_frames(const char *path, const uint8_t *mem, size_t mem_size,
                               int max_frames, int n_frames, const gitc_image_params *params,
                               gitc_image *frames, int *n_total, gitc_error *err)
{
    gitc_image_params p = *params;
    int *want = malloc(sizeof *want * (size_t)n_frames);
    if (!want)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);

    log_quiet_begin();
    decoder d = {.path = path, .max_pixels = p.max_pixels, .mem = mem, .mem_size = mem_size,
                 .max_frames = max_frames};
    frame_sink count = {0};
    gitc_status s = decode_pass(&d, &count, err);
    decoder_close(&d);
    if (!s && count.count == 0)
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: no decodable video frames", path);

    frame_sink keep = {.n_want = n_frames, .frames = frames};
    if (!s) {
        gitc_video_sample_indices(count.count, n_frames, want);
        keep.want = want;
        decoder d2 = {.path = path, .max_pixels = p.max_pixels, .mem = mem,
                      .mem_size = mem_size, .max_frames = max_frames};
        s = decode_pass(&d2, &keep, err);
        decoder_close(&d2);
    }
    if (!s && keep.next < n_frames)
        s = gitci_fail(err, GITC_ERR_FORMAT,
                       "%s: the second decoding pass gave %d frames, the first %d", path,
                       keep.count, count.count);
    sws_freeContext(keep.sws);
    log_quiet_end();
    free(want);

    if (s) {
        for (int i = 0; i < n_frames; i++) {
            free(frames[i].rgb);
            memset(&frames[i], 0, sizeof frames[i]);
        }
        return s;
    }
    if (n_total)
        *n_total = count.count;
    return GITC_OK;
}

#else /* !GITC_HAVE_FFMPEG */

gitc_status gitci_video_load_mode(const char *path, int n_frames, const gitc_image_params *params,
                                  gitc_image *frames, int *n_total, int allow_seek, int *seeked,
                                  gitc_error *err)
{
    (void)n_frames;
    (void)params;
    (void)frames;
    (void)allow_seek;
    if (seeked)
        *seeked = 0;
    if (n_total)
        *n_total = 0;
    return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                      "%s: this gitc was built without video support (FFmpeg)", path ? path : "video");
}

gitc_status gitci_video_load_memory(const void *data, size_t size, const char *name, int max_frames,
                                    int n_frames, const gitc_image_params *params,
                                    gitc_image *frames, int *n_total, gitc_error *err)
{
    (void)data;
    (void)size;
    (void)max_frames;
    (void)n_frames;
    (void)params;
    (void)frames;
    if (n_total)
        *n_total = 0;
    return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                      "%s: this gitc was built without video support (FFmpeg)", name ? name : "video");
}

#endif /* GITC_HAVE_FFMPEG */

/* The public entry: seeking allowed (see gitci_video_load_mode). */
gitc_status gitc_video_load(const char *path, int n_frames, const gitc_image_params *params,
                            gitc_image *frames, int *n_total, gitc_error *err)
{
    if (params && gitci_params_size_check(params->size, sizeof *params, "gitc_image_params", err) != GITC_OK)
        return GITC_ERR_ARGUMENT;
    return gitci_video_load_mode(path, n_frames, params, frames, n_total, 1, NULL, err);
}
