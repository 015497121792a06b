/* Video: numpy-exact frame sampling, bit-exact decoding against PyAV 10 on
 * FFmpeg 5.1 (tests/data/video/video_frames.safetensors holds the reference
 * frames: video0.frames4, video1.frames4 and video0.frames6 of
 * shared/reference/video/video_refs.safetensors), and clean errors on bad files. */
#include "check.h"
#include "gitc.h"
#include "safetensors.h"
#include "video_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/cpu.h>
#include <libavutil/log.h>

/* How far decoded RGB may be from the PyAV frames, per architecture. The
 * references were made on x86-64, where FFmpeg converts yuv420p -> rgb24
 * (SWS_BILINEAR, as PyAV asks) with its x86 SIMD yuv2rgb (16-bit fixed-point
 * products); elsewhere (aarch64's FFmpeg 5.1 has no NEON path for rgb24) it
 * takes the portable C path, whose lookup tables round the same BT.601
 * matrix differently. FFmpeg promises the same bytes on every CPU only with
 * SWS_ACCURATE_RND | SWS_BITEXACT, and those flags take a third path that is
 * up to 54 away from PyAV's frames on x86, so they are not used. The C path
 * is within 2 of the SIMD one on these clips (checked on x86 itself by
 * forcing it: test_c_path_within_tolerance); the MPEG-4 part 2 clip may add 1
 * more on other CPUs, whose IDCT FFmpeg also picks per CPU (that standard
 * asks IEEE 1180 accuracy of an IDCT, not bit-exactness): arm64 under QEMU
 * measured 2 (H.264) and 3 (MPEG-4). */
#if defined(__x86_64__) || defined(__i386__)
#define RGB_TOL 0
#else
#define RGB_TOL 3
#endif
#define C_PATH_TOL 3

static void release_all(gitc_image *frames, int n)
{
    for (int i = 0; i < n; i++)
        gitc_image_free(&frames[i]);
}

static void test_sample_indices(void)
{
    /* Expected values are numpy 1.24's linspace(0, n-1, k).round(), worked by hand:
     * step = (n-1)/(k-1) in double, value i = i*step, the last value = n-1 exactly,
     * np.round rounds halves to even.
     * (48,4): step 47/3 = 15.667: 0, 15.667, 31.333, 47        -> 0 16 31 47
     * (48,6): step 9.4: 0, 9.4, 18.8, 28.200000000000003, 37.6, 47 -> 0 9 19 28 38 47
     * (2,4):  step 1/3: 0, 0.333, 0.667, 1                      -> 0 0 1 1
     * (1,1):  k == 1: numpy returns [start]                     -> 0
     * (5,3):  step 2: 0, 2, 4                                   -> 0 2 4
     * (10,4): step 3: 0, 3, 6, 9                                -> 0 3 6 9
     * Halves (round to even): (2,3): 0, 0.5, 1 -> 0 0 1; (4,3): 0, 1.5, 3 -> 0 2 3;
     * (6,3): 0, 2.5, 5 -> 0 2 5; (8,3): 0, 3.5, 7 -> 0 4 7.
     * (48,1): [0]; (1,4): start == stop, step 0 -> 0 0 0 0. */
    static const struct {
        int n, k;
        int want[8];
    } cases[] = {
        {48, 4, {0, 16, 31, 47}},
        {48, 6, {0, 9, 19, 28, 38, 47}},
        {2, 4, {0, 0, 1, 1}},
        {1, 1, {0}},
        {5, 3, {0, 2, 4}},
        {10, 4, {0, 3, 6, 9}},
        {2, 3, {0, 0, 1}},
        {4, 3, {0, 2, 3}},
        {6, 3, {0, 2, 5}},
        {8, 3, {0, 4, 7}},
        {48, 1, {0}},
        {1, 4, {0, 0, 0, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int got[8];
        int k = cases[c].k;
        gitc_video_sample_indices(cases[c].n, k, got);
        char what[64];
        snprintf(what, sizeof what, "sample_indices(%d, %d)", cases[c].n, k);
        check_ids(what, got, k, cases[c].want, k);
    }
}

/* Compares decoded frames with a reference U8 [N,H,W,3] tensor; prints the max diff. */
static void compare_frames(const char *what, const gitc_image *frames, int n, const st_file *ref,
                           const char *name, int tol)
{
    const st_tensor *t = gitci_st_find(ref, name);
    if (!check_true(t && t->dtype == ST_U8 && t->ndim == 4 && t->shape[0] == n &&
                        t->shape[3] == 3,
                    "%s: reference tensor %s missing or not U8 [%d,H,W,3]", what, name, n))
        return;
    int h = (int)t->shape[1], w = (int)t->shape[2];
    size_t per = (size_t)h * (size_t)w * 3;
    int max_diff = 0;
    size_t n_diff = 0;
    for (int i = 0; i < n; i++) {
        if (!check_true(frames[i].rgb && frames[i].width == w && frames[i].height == h,
                        "%s: frame %d is %dx%d, reference %dx%d", what, i, frames[i].width,
                        frames[i].height, w, h))
            return;
        const uint8_t *want = (const uint8_t *)t->data + per * (size_t)i;
        for (size_t j = 0; j < per; j++) {
            int d = abs((int)frames[i].rgb[j] - (int)want[j]);
            if (d) {
                n_diff++;
                if (d > max_diff)
                    max_diff = d;
            }
        }
    }
    printf("%-60s max abs diff %d (%zu of %zu values differ)\n", what, max_diff, n_diff,
           per * (size_t)n);
    check_true(max_diff <= tol, "%s: decoded RGB differs from PyAV's (max diff %d, allowed %d)", what,
               max_diff, tol);
}

/* Largest |a - b| over n bytes. */
static int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        worst = d > worst ? d : worst;
    }
    return worst;
}

static void test_reference_videos(const st_file *ref)
{
    static const struct {
        const char *file, *key;
        int with6;
    } videos[] = {
        {"tests/data/video/moving_square_h264.mp4", "video0", 1},
        {"tests/data/video/moving_square_mpeg4.avi", "video1", 0},
    };
    for (int v = 0; v < 2; v++) {
        const char *path = check_path(videos[v].file);
        for (int k = 4; k <= 6; k += 2) {
            if (k == 6 && !videos[v].with6)
                continue;
            gitc_image frames[6];
            int total = -1;
            gitc_error err = {0};
            gitc_status s = gitc_video_load(path, k, NULL, frames, &total, &err);
            char what[96], name[32];
            snprintf(what, sizeof what, "%s frames%d", videos[v].file, k);
            snprintf(name, sizeof name, "%s.frames%d", videos[v].key, k);
            if (!check_true(s == GITC_OK, "%s: %s", what, err.message))
                continue;
            check_true(total == 48, "%s: frame count %d, want 48", what, total);
            printf("%-60s frame count %d\n", what, total);
            compare_frames(what, frames, k, ref, name, RGB_TOL);
            release_all(frames, k);
        }
    }
}

/* x86 only: FFmpeg's portable C converter (what other CPUs run) on the
 * reference clips stays within C_PATH_TOL of PyAV's frames, and differs from
 * the SIMD result (so forcing the C path took effect). */
static void test_c_path_within_tolerance(const st_file *ref)
{
#if defined(__x86_64__) || defined(__i386__)
    static const char *const clips[][2] = {
        {"tests/data/video/moving_square_h264.mp4", "video0.frames4"},
        {"tests/data/video/moving_square_mpeg4.avi", "video1.frames4"},
    };
    for (int c = 0; c < 2; c++) {
        gitc_image frames[4];
        int total = -1;
        gitc_error err = {0};
        char what[96];
        snprintf(what, sizeof what, "%s frames4, FFmpeg's C path", clips[c][0] + 17);
        av_force_cpu_flags(0);
        gitc_status s = gitc_video_load(check_path(clips[c][0]), 4, NULL, frames, &total, &err);
        av_force_cpu_flags(-1); /* detect again */
        if (!check_true(s == GITC_OK, "%s: %s", what, err.message))
            continue;
        compare_frames(what, frames, 4, ref, clips[c][1], C_PATH_TOL);
        const st_tensor *t = gitci_st_find(ref, clips[c][1]);
        check_true(t && max_abs_diff(frames[0].rgb, t->data, (size_t)320 * 240 * 3) > 0,
                   "%s: same bytes as the SIMD path (was the C path forced?)", what);
        release_all(frames, 4);
    }
#else
    (void)ref;
    printf("%-60s x86 only (here RGB_TOL = %d is what is checked)\n", "FFmpeg's C path vs PyAV", RGB_TOL);
#endif
}

/* More samples than frames: the index rule repeats frames; the first and last
 * frames must still be the reference ones, and repeated indices equal frames. */
static void test_more_samples_than_frames(const st_file *ref)
{
    enum { K = 100 };
    gitc_image frames[K];
    int idx[K], total = 0;
    gitc_error err = {0};
    const char *path = check_path("tests/data/video/moving_square_h264.mp4");
    gitc_status s = gitc_video_load(path, K, NULL, frames, &total, &err);
    if (!check_true(s == GITC_OK, "100 samples of 48 frames: %s", err.message))
        return;
    gitc_video_sample_indices(total, K, idx);
    int bad = 0;
    for (int i = 1; i < K; i++)
        if (idx[i] == idx[i - 1] &&
            memcmp(frames[i].rgb, frames[i - 1].rgb, (size_t)320 * 240 * 3) != 0)
            bad++;
    check_true(bad == 0, "100 samples: %d repeated indices gave different frames", bad);
    const st_tensor *t = gitci_st_find(ref, "video0.frames4");
    size_t per = (size_t)320 * 240 * 3;
    if (t) {
        int first = max_abs_diff(frames[0].rgb, t->data, per) <= RGB_TOL;
        int last = max_abs_diff(frames[K - 1].rgb, (const uint8_t *)t->data + 3 * per, per) <= RGB_TOL;
        check_true(first && last, "100 samples: first/last frame differ from frames4[0]/[3]");
    }
    printf("%-60s indices %d %d %d ... %d, repeats equal\n", "h264 with 100 samples of 48",
           idx[0], idx[1], idx[2], idx[K - 1]);
    release_all(frames, K);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int slot;
    const char *dir = getenv("GITC_TMP");
    char *p = buf[slot++ % 4];
    snprintf(p, sizeof buf[0], "%s/video_%s", dir && *dir ? dir : "/tmp", name);
    return p;
}

static int write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* Writes the first `keep` bytes (0: half the file) of a test video to a temporary file. */
static const char *truncated_copy(const char *rel, const char *name, size_t keep)
{
    FILE *f = fopen(check_path(rel), "rb");
    if (!f)
        return NULL;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *out = tmp_path(name);
    if (keep == 0 || keep > n)
        keep = n / 2;
    return write_file(out, buf, keep) ? out : NULL;
}

/* A 0.1 s mono 8 kHz PCM WAV: a valid media file with no video stream. */
static const char *wav_file(void)
{
    uint8_t wav[44 + 1600] = {0};
    uint32_t data = 1600, rate = 8000;
    memcpy(wav, "RIFF", 4);
    uint32_t riff = 36 + data;
    memcpy(wav + 4, &riff, 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    uint32_t fmt_size = 16, byte_rate = rate * 2;
    uint16_t pcm = 1, channels = 1, align = 2, bits = 16;
    memcpy(wav + 16, &fmt_size, 4);
    memcpy(wav + 20, &pcm, 2);
    memcpy(wav + 22, &channels, 2);
    memcpy(wav + 24, &rate, 4);
    memcpy(wav + 28, &byte_rate, 4);
    memcpy(wav + 32, &align, 2);
    memcpy(wav + 34, &bits, 2);
    memcpy(wav + 36, "data", 4);
    memcpy(wav + 40, &data, 4);
    const char *path = tmp_path("audio.wav");
    return write_file(path, wav, sizeof wav) ? path : NULL;
}

/* Loads a bad input and checks: the wanted status, a message naming the file,
 * no frames left behind. */
static void expect_failure(const char *what, const char *path, gitc_status want)
{
    if (!check_true(path != NULL, "%s: could not prepare the input file", what))
        return;
    gitc_image frames[4];
    memset(frames, 0x55, sizeof frames);
    int total = -1;
    gitc_error err = {0};
    gitc_status s = gitc_video_load(path, 4, NULL, frames, &total, &err);
    printf("%-60s status %d: %s\n", what, (int)s, err.message);
    check_true(s == want, "%s: status %d (%s), want %d", what, (int)s, err.message, (int)want);
    check_true(strstr(err.message, path) != NULL, "%s: message does not name the file: %s", what,
               err.message);
    int leftover = 0;
    for (int i = 0; i < 4; i++)
        leftover += frames[i].rgb != NULL;
    check_true(s == GITC_OK || (leftover == 0 && total == 0),
               "%s: failed call left %d frames / total %d", what, leftover, total);
    if (s == GITC_OK)
        release_all(frames, 4);
}

static void test_bad_inputs(void)
{
    expect_failure("missing file", tmp_path("does_not_exist.mp4"), GITC_ERR_IO);
    expect_failure("a directory", check_path("tests/data/video"), GITC_ERR_IO);

    uint8_t garbage[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) {
        x = x * 1664525u + 1013904223u;
        garbage[i] = (uint8_t)(x >> 24);
    }
    const char *g = tmp_path("garbage.mp4");
    expect_failure("random bytes named .mp4", write_file(g, garbage, sizeof garbage) ? g : NULL,
                   GITC_ERR_FORMAT);
    const char *e = tmp_path("empty.mp4");
    expect_failure("empty file", write_file(e, "", 0) ? e : NULL, GITC_ERR_FORMAT);
    const char *t = tmp_path("notes.txt");
    const char *text = "This is a plain text file, not a video.\nSecond line.\n";
    expect_failure("text file", write_file(t, text, strlen(text)) ? t : NULL, GITC_ERR_FORMAT);
    expect_failure("WAV audio (no video stream)", wav_file(), GITC_ERR_FORMAT);
    /* The MP4 keeps its index (moov atom, bytes 4806-6185) at the end: its first
     * half cannot be opened. */
    expect_failure("h264 mp4 cut in half",
                   truncated_copy("tests/data/video/moving_square_h264.mp4", "half.mp4", 0),
                   GITC_ERR_FORMAT);
    /* The AVI header (5686 bytes) and part of the first frame's packet (1803
     * bytes from 5686): the cut packet is skipped, so no frame decodes. */
    expect_failure("avi header + partial first frame (0 frames)",
                   truncated_copy("tests/data/video/moving_square_mpeg4.avi", "header.avi", 6500),
                   GITC_ERR_FORMAT);

    /* max_pixels below one 320x240 frame. */
    gitc_image_params p = gitc_image_default_params();
    p.max_pixels = 320 * 240 - 1;
    gitc_image frames[4];
    gitc_error err = {0};
    const char *path = check_path("tests/data/video/moving_square_h264.mp4");
    gitc_status s = gitc_video_load(path, 4, &p, frames, NULL, &err);
    printf("%-60s status %d: %s\n", "max_pixels 76799", (int)s, err.message);
    check_true(s == GITC_ERR_LIMIT && strstr(err.message, path), "max_pixels: status %d (%s)",
               (int)s, err.message);
    p.max_pixels = 320 * 240;
    s = gitc_video_load(path, 4, &p, frames, NULL, &err);
    check_true(s == GITC_OK, "max_pixels 76800 (exactly one frame): %s", err.message);
    if (s == GITC_OK)
        release_all(frames, 4);

    s = gitc_video_load(path, 0, NULL, frames, NULL, &err);
    check_true(s == GITC_ERR_ARGUMENT, "n_frames 0: status %d", (int)s);
}

/* gitc silences FFmpeg only while it decodes: the caller's log level is back
 * afterwards, after a success and after a failure. */
static void test_log_level_restored(void)
{
    int before = av_log_get_level();
    av_log_set_level(AV_LOG_DEBUG);
    gitc_image frames[1];
    gitc_error err = {0};
    gitc_status s = gitc_video_load(check_path("tests/data/video/moving_square_h264.mp4"), 1, NULL,
                                    frames, NULL, &err);
    int after_ok = av_log_get_level();
    if (s == GITC_OK)
        release_all(frames, 1);
    s = gitc_video_load(tmp_path("garbage.mp4"), 1, NULL, frames, NULL, &err);
    int after_fail = av_log_get_level();
    printf("%-60s %d -> %d (success), %d (failure)\n", "FFmpeg log level around decoding",
           AV_LOG_DEBUG, after_ok, after_fail);
    check_true(after_ok == AV_LOG_DEBUG && after_fail == AV_LOG_DEBUG,
               "FFmpeg log level not restored: %d, %d", after_ok, after_fail);
    av_log_set_level(before);
}

/* The AVI cut in half (9729 of 19458 bytes) has no index, but its first 12
 * frame packets are intact and the 13th is cut short: the demuxer flags that
 * one corrupt, gitc skips it and returns the 12 complete frames. */
static void test_truncated_avi(const st_file *ref)
{
    const char *path =
        truncated_copy("tests/data/video/moving_square_mpeg4.avi", "half.avi", 0);
    if (!check_true(path != NULL, "could not write the truncated AVI"))
        return;
    gitc_image frames[4];
    int total = 0;
    gitc_error err = {0};
    gitc_status s = gitc_video_load(path, 4, NULL, frames, &total, &err);
    printf("%-60s status %d, %d frames %s\n", "mpeg4 avi cut in half", (int)s, total,
           s ? err.message : "");
    if (!check_true(s == GITC_OK && total == 12,
                    "truncated AVI: status %d, %d frames (want 12): %s", (int)s, total,
                    err.message))
        return;
    const st_tensor *t = gitci_st_find(ref, "video1.frames4");
    check_true(t && max_abs_diff(frames[0].rgb, t->data, (size_t)320 * 240 * 3) <= RGB_TOL,
               "truncated AVI: frame 0 differs from the full file's");
    release_all(frames, 4);
}

/* Seeking (container frame count + key frames) gives the same frames and
 * count as decoding the whole clip, bit for bit, for any number of samples:
 * the reference clips (one GOP), 200-frame H.264 clips with B-frames and key
 * frames every 25 (closed GOPs) or 30 (open GOPs) frames, where it really
 * seeks, and an MKV copy, whose container does not know its frame count, so
 * the whole clip is decoded. The clips were made with FFmpeg 5.1's CLI:
 *   ffmpeg -f lavfi -i testsrc2=size=80x48:rate=25 -t 8 -c:v libx264 -preset medium -crf 34
 *          -g 25 -bf 3 -pix_fmt yuv420p -x264-params open-gop=0 gop_bframes.mp4
 *   (open_gop.mp4: -x264-params keyint=30:min-keyint=30:open-gop=1:scenecut=0)
 *   ffmpeg -i gop_bframes.mp4 -c copy gop_bframes.mkv */
static void test_seeking_equals_decoding(void)
{
    static const struct {
        const char *file;
        int want_seek;
    } clips[] = {
        {"tests/data/video/moving_square_h264.mp4", 1},
        {"tests/data/video/moving_square_mpeg4.avi", 1},
        {"tests/data/video/gop_bframes.mp4", 1},
        {"tests/data/video/open_gop.mp4", 1},
        {"tests/data/video/gop_bframes.mkv", 0},
    };
    static const int ks[] = {1, 2, 4, 6, 8, 16, 25, 64, 250};
    enum { KMAX = 250 };
    static gitc_image a[KMAX], b[KMAX];
    for (size_t c = 0; c < sizeof clips / sizeof clips[0]; c++) {
        const char *path = check_path(clips[c].file);
        int n_seeked = 0, n_bad = 0, n_runs = 0, total_a = 0, total_b = 0;
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            int k = ks[i], seeked = 0;
            gitc_error err = {0};
            gitc_status sa = gitci_video_load_mode(path, k, NULL, a, &total_a, 1, &seeked, &err);
            if (!check_true(sa == GITC_OK, "%s k=%d (seeking): %s", clips[c].file, k, err.message))
                continue;
            gitc_status sb = gitci_video_load_mode(path, k, NULL, b, &total_b, 0, NULL, &err);
            if (!check_true(sb == GITC_OK, "%s k=%d (decoding): %s", clips[c].file, k,
                            err.message)) {
                release_all(a, k);
                continue;
            }
            n_runs++;
            n_seeked += seeked;
            check_true(total_a == total_b, "%s k=%d: %d frames by the container, %d decoded",
                       clips[c].file, k, total_a, total_b);
            for (int f = 0; f < k; f++)
                if (a[f].width != b[f].width || a[f].height != b[f].height ||
                    memcmp(a[f].rgb, b[f].rgb, (size_t)a[f].width * a[f].height * 3) != 0)
                    n_bad++;
            release_all(a, k);
            release_all(b, k);
        }
        printf("%-44s %d frames, %d/%d loads by seeking, %d frames differ\n", clips[c].file,
               total_b, n_seeked, n_runs, n_bad);
        check_true(n_bad == 0, "%s: %d sampled frames differ between seeking and decoding",
                   clips[c].file, n_bad);
        check_true(clips[c].want_seek ? n_seeked == n_runs : n_seeked == 0,
                   "%s: %d of %d loads used seeking, want %s", clips[c].file, n_seeked, n_runs,
                   clips[c].want_seek ? "all" : "none");
    }
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    test_sample_indices();

    st_file *ref = NULL;
    gitc_error err = {0};
    if (!check_true(gitci_st_open(check_path("tests/data/video/video_frames.safetensors"), &ref, &err) ==
                        GITC_OK,
                    "reference frames: %s", err.message))
        return check_done("test_video");
    test_reference_videos(ref);
    test_c_path_within_tolerance(ref);
    test_more_samples_than_frames(ref);
    test_truncated_avi(ref);
    test_bad_inputs();
    test_log_level_restored();
    test_seeking_equals_decoding();
    gitci_st_close(ref);
    return check_done("test_video");
}
