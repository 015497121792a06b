/* make_shapes_dataset: writes a small fine-tuning dataset for the embedded
 * shapes model (models/git-shapes) in the HF imagefolder layout: N scenes of
 * one circle, square or triangle on a white, gray or black background (the
 * palette of the model's training scenes), 224x224 BMP files, and a
 * metadata.jsonl whose captions follow a sentence pattern the model has never
 * seen, made of words of its vocabulary:
 *   "the background is gray and the shape is a red circle"
 * (the model itself says "a small red circle on a gray background").
 *
 *   make_shapes_dataset DIR N [SEED]
 *
 * The same SEED gives the same scenes; use another SEED for held-out data.
 * Needs nothing but the C library. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { SIZE = 224 };

static const struct { const char *name; uint8_t rgb[3]; } colors[] = {
    {"red", {220, 40, 40}},    {"green", {40, 170, 60}},  {"blue", {40, 80, 220}},
    {"yellow", {235, 200, 40}}, {"orange", {240, 140, 30}}, {"purple", {140, 60, 180}},
};
static const struct { const char *name; uint8_t rgb[3]; } backgrounds[] = {
    {"white", {245, 245, 245}}, {"gray", {128, 128, 128}}, {"black", {20, 20, 20}},
};
static const char *const shapes[] = {"circle", "square", "triangle"};

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

/* 1 when pixel (x, y) is inside the shape centred at (cx, cy) with radius r. */
static int inside(int shape, double x, double y, double cx, double cy, double r)
{
    double dx = x - cx, dy = y - cy;
    if (shape == 0)
        return dx * dx + dy * dy <= r * r;
    if (shape == 1)
        return fabs(dx) <= r * 0.85 && fabs(dy) <= r * 0.85;
    /* An upward triangle: apex at cy - r, base at cy + 0.8 r. */
    if (dy < -r || dy > 0.8 * r)
        return 0;
    double half = (dy + r) / 1.8 * 1.05;
    return fabs(dx) <= half;
}

/* Writes a 24-bit BMP (bottom-up rows, BGR). Returns 0 or -1. */
static int write_bmp(const char *path, const uint8_t *rgb)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint32_t row = SIZE * 3, data = row * SIZE, file = 54 + data;
    uint8_t h[54] = {'B', 'M'};
    memcpy(h + 2, &file, 4);
    h[10] = 54;
    h[14] = 40;
    int32_t w = SIZE, ht = SIZE;
    memcpy(h + 18, &w, 4);
    memcpy(h + 22, &ht, 4);
    h[26] = 1;
    h[28] = 24;
    memcpy(h + 34, &data, 4);
    int ok = fwrite(h, 1, 54, f) == 54;
    uint8_t line[SIZE * 3];
    for (int y = SIZE - 1; ok && y >= 0; y--) {
        for (int x = 0; x < SIZE; x++) {
            const uint8_t *p = rgb + ((size_t)y * SIZE + x) * 3;
            line[x * 3] = p[2];
            line[x * 3 + 1] = p[1];
            line[x * 3 + 2] = p[0];
        }
        ok = fwrite(line, 1, row, f) == row;
    }
    return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: make_shapes_dataset DIR N [SEED]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = strtol(argv[2], NULL, 10);
    rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(argc > 3 ? strtoull(argv[3], NULL, 10) : 1) * 0x100000001B3ull;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "make_shapes_dataset: N must be 1..100000\n");
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_shapes_dataset: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/metadata.jsonl", dir);
    FILE *meta = fopen(path, "w");
    uint8_t *img = malloc(SIZE * SIZE * 3);
    if (!meta || !img) {
        fprintf(stderr, "make_shapes_dataset: cannot write %s\n", path);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        int c = (int)rnd(6), b = (int)rnd(3), s = (int)rnd(3);
        double r = rnd(2) ? 28 + rnd(10) : 52 + rnd(14);
        double cx = r + 8 + rnd((uint32_t)(SIZE - 2 * r - 16)), cy = r + 8 + rnd((uint32_t)(SIZE - 2 * r - 16));
        for (int y = 0; y < SIZE; y++)
            for (int x = 0; x < SIZE; x++)
                memcpy(img + ((size_t)y * SIZE + x) * 3,
                       inside(s, x + 0.5, y + 0.5, cx, cy, r) ? colors[c].rgb : backgrounds[b].rgb, 3);
        char name[64];
        snprintf(name, sizeof name, "scene_%05ld.bmp", i);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (write_bmp(path, img) != 0) {
            fprintf(stderr, "make_shapes_dataset: cannot write %s\n", path);
            return 1;
        }
        const char *article = colors[c].name[0] == 'o' ? "an" : "a";
        fprintf(meta, "{\"file_name\": \"%s\", \"text\": \"the background is %s and the shape is %s %s %s\"}\n",
                name, backgrounds[b].name, article, colors[c].name, shapes[s]);
    }
    free(img);
    if (fclose(meta) != 0) {
        fprintf(stderr, "make_shapes_dataset: cannot write the metadata\n");
        return 1;
    }
    printf("%s: %ld scenes\n", dir, n);
    return 0;
}
