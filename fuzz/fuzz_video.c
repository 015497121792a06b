/*
 * libFuzzer target for video decoding from memory (libavformat reading
 * through a custom AVIOContext, gitci_video_load_memory): two sampled frames,
 * at most 64 decoded frames per pass and 128 x 128 pixels per frame. Traps
 * when an invariant breaks:
 *   - a failure sets a message and leaves no frames;
 *   - on success both frames have a positive size within the pixel limit and
 *     readable pixels, and the frame count is within the frame limit.
 * FUZZ_SEEDS: tests/data/video/moving_square_h264.mp4 tests/data/video/moving_square_mpeg4.avi tests/data/limits/bomb_15000x15000.y4m fuzz/seeds/video
 * FUZZ_DICT: fuzz/dict/video.dict
 * FUZZ_MAX_LEN: 32768
 */
#include "common.h"
#include "video_internal.h"

#define MAX_FRAMES 64
#define MAX_PIXELS (128 * 128)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    gitc_image frames[2];
    gitc_image_params params = gitc_image_default_params();
    params.max_pixels = MAX_PIXELS;
    gitc_error err = {0};
    int total = 0;
    gitc_status st = gitci_video_load_memory(data, size, "fuzz-video", MAX_FRAMES, 2, &params, frames,
                                             &total, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK) {
        FUZZ_CHECK(frames[0].rgb == NULL && frames[1].rgb == NULL, "failure left frames");
        return 0;
    }
    FUZZ_CHECK(total >= 1 && total <= MAX_FRAMES, "%d frames", total);
    for (int i = 0; i < 2; i++) {
        const gitc_image *f = &frames[i];
        FUZZ_CHECK(f->width > 0 && f->height > 0 && f->rgb, "frame %d is %dx%d", i, f->width, f->height);
        FUZZ_CHECK((uint64_t)f->width * (uint64_t)f->height <= MAX_PIXELS, "frame %d over the limit", i);
        size_t n = (size_t)f->width * (size_t)f->height * 3;
        FUZZ_CHECK(f->rgb[0] + f->rgb[n - 1] < 512, "pixels");
        gitc_image_free(&frames[i]);
    }
    return 0;
}
