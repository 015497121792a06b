/* One-thread CPU-time encode / decode / caption of gitc on a model folder, for
 * comparisons on a busy machine (notes/kernels.md, lowp section). Built by hand
 * like bench_kernels; usage: bench_cpu_caption MODEL_DIR f32|bf16|int8 RUNS.
 * Pair: tests/anchor_cpu.py (the PyTorch anchor timed the same way). */
#include "gitc.h"
#include "synth.h"
#include "model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e3+t.tv_nsec*1e-6;}
int main(int argc, char **argv){
  if (argc != 4 || atoi(argv[3]) < 1) {
    fprintf(stderr, "usage: bench_cpu_caption MODEL_DIR f32|bf16|int8 RUNS\n");
    return 2;
  }
  gitc_model_params mp = gitc_model_default_params();
  mp.dtype = strcmp(argv[2],"bf16")==0 ? GITC_DTYPE_BF16 : strcmp(argv[2],"int8")==0 ? GITC_DTYPE_INT8 : GITC_DTYPE_F32;
  int runs = atoi(argv[3]);
  gitc_model *m; gitc_error err={0};
  double t0 = cpu();
  if (gitc_model_load(argv[1], &mp, &m, &err)) { fprintf(stderr, "%s\n", err.message); return 1; }
  double tl = cpu() - t0;
  gitc_session_params sp = gitc_session_default_params(); sp.n_threads = 1;
  gitc_session *s; gitc_session_create(m, &sp, &s, &err);
  const gitc_config *c = gitc_model_config(m);
  int S = c->vision_image_size; size_t npx = (size_t)3*S*S;
  float *px = malloc(npx*4); gitc_synth_pixels("pixel_values", npx, px);
  size_t n_vis = gitc_model_vision_floats(m), n_proj = gitc_model_projection_floats(m);
  float *vis = malloc(n_vis*4), *proj = malloc(n_proj*4);
  gitc_generate_params p = gitc_model_generate_params(m); p.max_length = 20; p.min_length = 20;
  double be = 1e9, bt = 1e9, b2 = 1e9;
  gitc_generate_params p2 = p; p2.max_length = 2; p2.min_length = 2;
  for (int r = 0; r <= runs; r++) {
    double a = cpu(); gitc_encode_image(s, px, npx, vis, n_vis, proj, n_proj, &err); double b = cpu();
    const float *pp = px; gitc_generation gen = {0};
    double g0 = cpu(); gitc_generate(s, &pp, npx, NULL, NULL, 1, &p, &gen, &err); double g1 = cpu();
    gitc_generation_free(&gen);
    double h0 = cpu(); gitc_generate(s, &pp, npx, NULL, NULL, 1, &p2, &gen, &err); double h1 = cpu();
    gitc_generation_free(&gen);
    if (r && h1 - h0 < b2) b2 = h1 - h0;
    if (r) { if (b-a < be) be = b-a; if (g1-g0 < bt) bt = g1-g0; }
  }
  /* generate = encode (vision + projection + decoder image rows) + 19 steps; vision alone timed above */
  printf("{\"engine\": \"gitc-%s\", \"kernels\": \"%s\", \"vision_cpu_ms\": %.1f, \"caption_cpu_ms\": %.1f, \"decode_cpu_ms_per_token\": %.2f, \"encode_cpu_ms\": %.1f, \"load_cpu_ms\": %.1f}\n", argv[2], gitc_model_kernels(m), be, bt, (bt - b2) / 18, b2 - (bt - b2) / 18, tl);
  return 0; }
