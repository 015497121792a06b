/*
 * gitc: Microsoft's GIT (Generative Image-to-text Transformer) in C.
 *
 * The one public header of libgitc. It runs HuggingFace GIT checkpoint
 * folders (config.json, safetensors, preprocessor_config.json, tokenizer
 * files) with the numerics of transformers 4.x.
 *
 * Conventions
 * - Every function that can fail returns a gitc_status and, when `err` is
 *   not NULL, writes a message into it that names the file and the problem.
 *   The library never exits, aborts or prints on bad input.
 * - Objects come in create/free pairs; every free function accepts NULL.
 * - Ownership is written on every function: "caller frees" means the result
 *   was allocated for the caller; "borrowed" means it lives as long as the
 *   object it came from and must not be freed.
 *
 * Thread safety
 * - A gitc_model is immutable after loading: any number of threads may share
 *   it, each with its own gitc_session.
 * - A gitc_session (KV caches, scratch buffers, thread pool) is used by one
 *   thread at a time.
 * - gitc_tokenizer and gitc_processor are immutable and may be shared.
 */
#ifndef GITC_H
#define GITC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported functions: libgitc is built with hidden visibility and
 * exports exactly the functions this header declares. */
#ifndef GITC_API
#if defined(__GNUC__) || defined(__clang__)
#define GITC_API __attribute__((visibility("default")))
#else
#define GITC_API
#endif
#endif

#define GITC_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

typedef enum gitc_status {
    GITC_OK = 0,
    GITC_ERR_IO,          /* a file is missing or cannot be read or written */
    GITC_ERR_FORMAT,      /* a file is malformed (JSON, safetensors, image) */
    GITC_ERR_UNSUPPORTED, /* valid but not supported (dtype, codec, option) */
    GITC_ERR_SHAPE,       /* a tensor or input disagrees with the config */
    GITC_ERR_ARGUMENT,    /* an invalid argument or setting */
    GITC_ERR_LIMIT,       /* input exceeds a configured limit */
    GITC_ERR_MEMORY,      /* out of memory */
    GITC_ERR_ABORTED      /* stopped by the abort callback */
} gitc_status;

/* Error details filled by failing calls; `message` names the file and the problem. */
typedef struct gitc_error {
    gitc_status status;
    char message[512];
} gitc_error;

/* The library's version at run time ("0.1.0"; GITC_VERSION is the header's). Static. */
GITC_API const char *gitc_version(void);

/* The formats this build decodes, space-separated, from "JPEG PNG BMP WebP GIF
 * TIFF AVIF HEIC video" (the optional codecs are chosen when it is built). Static. */
GITC_API const char *gitc_formats(void);

/* Short static description of a status code ("I/O error", ...). */
GITC_API const char *gitc_status_string(gitc_status status);

/* Releases memory the library allocated for the caller: the ids of
 * gitc_tokenizer_encode, the texts of gitc_tokenizer_decode,
 * gitc_describe_image and gitc_describe_frames, and the JSON of
 * gitc_model_describe_json. NULL is fine. */
GITC_API void gitc_free(void *ptr);

/* Params structs (gitc_image_params, gitc_model_params, gitc_session_params,
 * gitc_generate_params) start with `size`, the sizeof of the struct the caller
 * was compiled with; the *_params_init functions fill it with the defaults,
 * and the inline *_default_params helpers call them with the caller's sizeof.
 * A function taking params refuses (GITC_ERR_ARGUMENT) a struct whose size it
 * does not know, e.g. one that was never initialized. */

/* ------------------------------------------------------------------ */
/* Images                                                              */
/* ------------------------------------------------------------------ */

/* An 8-bit RGB image, rows top to bottom, 3 bytes per pixel (HWC). */
typedef struct gitc_image {
    int width;
    int height;
    uint8_t *rgb; /* [height, width, 3], owned by the image */
} gitc_image;

typedef struct gitc_image_params {
    size_t size;         /* sizeof(gitc_image_params), set by gitc_image_params_init */
    uint64_t max_pixels; /* refuse images with more pixels (0 = no limit); default 100 MP */
    int exif_transpose;  /* 1: honour the EXIF orientation like ImageOps.exif_transpose (what
                            transformers' load_image and pipelines do; the gitc command's
                            default); default 0, as Image.open(path).convert("RGB") */
} gitc_image_params;

/* Fills `size` bytes of *params (sizeof(gitc_image_params)) with the defaults. */
GITC_API void gitc_image_params_init(gitc_image_params *params, size_t size);

/* The defaults, as a value. */
static inline gitc_image_params gitc_image_default_params(void)
{
    gitc_image_params p;
    gitc_image_params_init(&p, sizeof p);
    return p;
}

/* Decodes a JPEG, PNG, WebP, BMP, GIF (first frame) or TIFF (first page) file
 * and converts it to RGB as PIL 9.4's Image.open(path).convert("RGB") does;
 * AVIF and HEIC, which PIL cannot read, as libavif's and libheif's own RGB
 * output (see gitc_formats() for what this build reads). `out` is filled only on
 * success; release it with gitc_image_free. `params` may be NULL (defaults). */
GITC_API gitc_status gitc_image_load(const char *path, const gitc_image_params *params, gitc_image *out,
                                     gitc_error *err);

/* The same from memory; `name` is used in error messages. */
GITC_API gitc_status gitc_image_decode(const void *data, size_t size, const char *name,
                                       const gitc_image_params *params, gitc_image *out, gitc_error *err);

/* Releases the pixels of an image and zeroes it; NULL and empty images are fine. */
GITC_API void gitc_image_free(gitc_image *image);

/* ------------------------------------------------------------------ */
/* Image processor (CLIPImageProcessor / VideoMAEImageProcessor, PIL)  */
/* ------------------------------------------------------------------ */

typedef struct gitc_processor gitc_processor;

/* Reads `preprocessor_config.json` from a model folder. Caller frees. */
GITC_API gitc_status gitc_processor_load(const char *model_dir, gitc_processor **out, gitc_error *err);

/* Parses a preprocessor config given as JSON text; `name` is used in messages. Caller frees. */
GITC_API gitc_status gitc_processor_from_json(const char *json, size_t len, const char *name,
                                              gitc_processor **out, gitc_error *err);

GITC_API void gitc_processor_free(gitc_processor *processor);

/* Output height and width of pixel_values, the same for every input image
 * when the processor crops (all GIT checkpoints do); 0 x 0 when the size
 * depends on the image (do_center_crop false), which GIT models cannot take. */
GITC_API void gitc_processor_output_size(const gitc_processor *processor, int *height, int *width);

/* Floats gitc_processor_run writes for an image of width x height: 3 * H * W
 * of its output (the crop size, or the resized size when the processor does not
 * crop); 0 when the size is invalid or too large. */
GITC_API size_t gitc_processor_output_floats(const gitc_processor *processor, int width,
                                             int height);

/* Resizes, crops, rescales and normalizes an image exactly as the classic PIL
 * path of transformers does; writes float32 CHW [3, height, width] to `out`,
 * which holds `out_capacity` floats (see gitc_processor_output_floats). A
 * buffer too small is GITC_ERR_ARGUMENT and nothing is written. */
GITC_API gitc_status gitc_processor_run(const gitc_processor *processor, const gitc_image *image,
                                        float *out, size_t out_capacity, gitc_error *err);

/* ------------------------------------------------------------------ */
/* Video                                                               */
/* ------------------------------------------------------------------ */

/* Frame indices sampled evenly from a clip of n_total frames:
 * round_half_even(linspace(0, n_total - 1, n_sample)) as numpy computes it.
 * Writes n_sample indices to `indices`. */
GITC_API void gitc_video_sample_indices(int n_total, int n_sample, int *indices);

/* Decodes a video file with libavformat/libavcodec and returns the n_frames
 * frames picked by gitc_video_sample_indices from its frame count, converted
 * to RGB as PyAV's frame.to_ndarray(format="rgb24") does. The count is the
 * container's when it knows it (checked against the packets; the sampled
 * frames are then reached by seeking), otherwise the frames are counted by
 * decoding; either way the frames are those of a full decode. A clip with fewer
 * than n_frames frames repeats frames as the index rule gives them.
 * `frames` receives n_frames images (caller frees each with gitc_image_free).
 * `n_total` (may be NULL) receives the number of decoded frames. */
GITC_API gitc_status gitc_video_load(const char *path, int n_frames, const gitc_image_params *params,
                                     gitc_image *frames, int *n_total, gitc_error *err);

/* ------------------------------------------------------------------ */
/* Tokenizer (BERT WordPiece, transformers' slow BertTokenizer)        */
/* ------------------------------------------------------------------ */

typedef struct gitc_tokenizer gitc_tokenizer;

/* Loads vocab.txt or tokenizer.json, with tokenizer_config.json, from a model folder. Caller frees. */
GITC_API gitc_status gitc_tokenizer_load(const char *model_dir, gitc_tokenizer **out, gitc_error *err);

GITC_API void gitc_tokenizer_free(gitc_tokenizer *tokenizer);

/* Encodes UTF-8 text (`len` bytes). With add_special, [CLS] ... [SEP] frame it.
 * `*ids` is allocated (caller frees with gitc_free), `*n_ids` its length.
 * Text that is not valid UTF-8 is an error. */
GITC_API gitc_status gitc_tokenizer_encode(const gitc_tokenizer *tokenizer, const char *text, size_t len,
                                           int add_special, int32_t **ids, size_t *n_ids, gitc_error *err);

/* Decodes ids to text like tokenizer.decode(ids, skip_special_tokens, clean_up_tokenization_spaces).
 * clean_up: 1 on, 0 off, -1 the tokenizer config's setting.
 * `*text` is allocated (caller frees with gitc_free). Unknown ids are an error. */
GITC_API gitc_status gitc_tokenizer_decode(const gitc_tokenizer *tokenizer, const int32_t *ids, size_t n_ids,
                                           int skip_special, int clean_up, char **text, gitc_error *err);

/* The token string of an id, or NULL when out of range. Borrowed. */
GITC_API const char *gitc_tokenizer_id_to_token(const gitc_tokenizer *tokenizer, int32_t id);

/* Vocabulary size. */
GITC_API int gitc_tokenizer_vocab_size(const gitc_tokenizer *tokenizer);

/* Length in bytes (1..4) of the strict UTF-8 sequence at the start of s (n
 * bytes available; no overlong forms, surrogates or code points above
 * U+10FFFF), or 0 when those bytes are not valid UTF-8 (or n is 0). The rule
 * the tokenizer applies to its input. */
GITC_API size_t gitc_utf8_sequence_length(const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* Model                                                               */
/* ------------------------------------------------------------------ */

typedef struct gitc_model gitc_model;

/* The numbers of a loaded GitConfig (vision_config defaults applied). */
typedef struct gitc_config {
    /* text decoder */
    int vocab_size;
    int hidden_size;
    int num_hidden_layers;
    int num_attention_heads;
    int intermediate_size;
    int max_position_embeddings;
    double layer_norm_eps;
    int bos_token_id;
    int eos_token_id;
    int pad_token_id;
    int num_image_with_embedding; /* 0 when the config says null (image model) */
    /* vision encoder */
    int vision_hidden_size;
    int vision_intermediate_size;
    int vision_num_hidden_layers;
    int vision_num_attention_heads;
    int vision_image_size;
    int vision_patch_size;
    int vision_num_channels;
    double vision_layer_norm_eps;
    /* derived */
    int image_tokens_per_frame; /* (image_size / patch_size)^2 + 1 */
} gitc_config;

/* Parses config.json text (`len` bytes; `name` is used in messages) into
 * *out, GitConfig's and GitVisionConfig's defaults applied, every number
 * checked against its range; text over 16 MiB is GITC_ERR_LIMIT. This is the
 * config gitc_model_load reads; no weights are needed. */
GITC_API gitc_status gitc_config_from_json(const char *json, size_t len, const char *name,
                                           gitc_config *out, gitc_error *err);

/* Called once per parameter; returning 0 stops the walk. `name` (borrowed for
 * the call) is the HuggingFace state-dict name, shape[0..ndim-1] its shape. */
typedef int (*gitc_parameter_fn)(void *user, const char *name, int ndim, const int64_t *shape);

/* Calls fn for every parameter a checkpoint of this config holds (what
 * gitc_model_load reads and checks), in the order of the weight table.
 * Returns 1 when every parameter was visited, 0 when fn stopped the walk. */
GITC_API int gitc_config_for_each_parameter(const gitc_config *config, gitc_parameter_fn fn, void *user);

/* Precision of the weights (and matrix products) of a loaded model. */
typedef enum gitc_dtype {
    GITC_DTYPE_F32 = 0, /* float32 products: the numerics of transformers (default) */
    GITC_DTYPE_BF16,    /* weights and activations rounded to bfloat16, f32 sums */
    GITC_DTYPE_INT8     /* int8 weights per block with scales, int8 activations, int32 sums */
} gitc_dtype;

typedef struct gitc_model_params {
    size_t size;        /* sizeof(gitc_model_params), set by gitc_model_params_init */
    int load_tokenizer; /* 1: load vocab.txt / tokenizer.json when the folder has them; default 1 */
    int load_processor; /* 1: load preprocessor_config.json when present; default 1 */
    gitc_dtype dtype;   /* precision the weights are prepared in at load; default F32. LayerNorm,
                           softmax, GELU, residuals and the logits stay float32 in every mode */
} gitc_model_params;

/* Fills `size` bytes of *params (sizeof(gitc_model_params)) with the defaults. */
GITC_API void gitc_model_params_init(gitc_model_params *params, size_t size);

/* The defaults, as a value. */
static inline gitc_model_params gitc_model_default_params(void)
{
    gitc_model_params p;
    gitc_model_params_init(&p, sizeof p);
    return p;
}

/* Loads a HuggingFace GIT model folder: config.json, the weights (as
 * transformers picks them: model.safetensors, the shards of
 * model.safetensors.index.json, pytorch_model.bin, or the shards of
 * pytorch_model.bin.index.json; F32, F16 or BF16 mmapped, F64 converted), and,
 * when present and asked for, the tokenizer and preprocessor files. Every
 * tensor is checked against the config. Caller frees with gitc_model_free. */
GITC_API gitc_status gitc_model_load(const char *model_dir, const gitc_model_params *params,
                                     gitc_model **out, gitc_error *err);

GITC_API void gitc_model_free(gitc_model *model);

/* Borrowed views of the model's parts. Tokenizer and processor are NULL when
 * the folder has none (or they were not asked for). */
GITC_API const gitc_config *gitc_model_config(const gitc_model *model);
GITC_API const gitc_tokenizer *gitc_model_tokenizer(const gitc_model *model);
GITC_API const gitc_processor *gitc_model_processor(const gitc_model *model);
/* Number of frames a pixel input must have: num_image_with_embedding, or 1. */
GITC_API int gitc_model_num_frames(const gitc_model *model);
/* Image tokens the decoder sees: frames * image_tokens_per_frame. */
GITC_API int gitc_model_num_image_tokens(const gitc_model *model);

/* What a loaded model was read from, as one JSON object: folder, weight format
 * ("safetensors" or "pytorch"), files and their bytes, tensor count, tensors
 * per dtype, ignored buffers, parameter count, weight bytes, matrices used in
 * place vs copied, load time in ms, a config summary, the tokenizer file and
 * the processor type. Returns a NUL-terminated string the caller frees with
 * gitc_free, or NULL when out of memory. */
GITC_API char *gitc_model_describe_json(const gitc_model *model);
/* The precision the model was loaded in. */
GITC_API gitc_dtype gitc_model_dtype(const gitc_model *model);
/* "f32", "bf16" or "int8" (static string), or NULL for a value outside the enum. */
GITC_API const char *gitc_dtype_name(gitc_dtype dtype);
/* The kernel set chosen for this CPU at load, e.g. "avx512" or "avx512+bf16" (borrowed). */
GITC_API const char *gitc_model_kernels(const gitc_model *model);
/* The CPU features the kernel choice saw at load, space-separated (e.g.
 * "avx2 avx512 avx512_bf16 avx512_vnni", "neon dotprod", or "none"); borrowed,
 * valid while the model lives. */
GITC_API const char *gitc_model_cpu_features(const gitc_model *model);
/* The kernel set the model runs for dtype's matrix products, as chosen at
 * load for this CPU and capped by the GITC_KERNELS environment variable
 * (portable|avx2|avx512|neon): f32 "portable", "avx2", "avx512", "neon";
 * bf16 and int8 "ref", "avx2", "avx512_bf16", "avx512_vnni", ... Static
 * string; NULL for a dtype outside the enum. */
GITC_API const char *gitc_model_kernel_set(const gitc_model *model, gitc_dtype dtype);

/* ------------------------------------------------------------------ */
/* Session: per-thread state (thread pool, scratch, KV caches)         */
/* ------------------------------------------------------------------ */

typedef struct gitc_session gitc_session;

typedef struct gitc_session_params {
    size_t size;   /* sizeof(gitc_session_params), set by gitc_session_params_init */
    int n_threads; /* worker threads; 0 = number of online CPUs; default 0 */
    /* Called between layers and decoding steps; returning non-zero stops the
     * work with GITC_ERR_ABORTED. May be NULL. */
    int (*abort_callback)(void *user);
    void *abort_user;
} gitc_session_params;

/* Fills `size` bytes of *params (sizeof(gitc_session_params)) with the defaults. */
GITC_API void gitc_session_params_init(gitc_session_params *params, size_t size);

/* The defaults, as a value. */
static inline gitc_session_params gitc_session_default_params(void)
{
    gitc_session_params p;
    gitc_session_params_init(&p, sizeof p);
    return p;
}

/* Creates a session on a model (the model must outlive it). Caller frees. */
GITC_API gitc_status gitc_session_create(const gitc_model *model, const gitc_session_params *params,
                                         gitc_session **out, gitc_error *err);

GITC_API void gitc_session_free(gitc_session *session);

/* The number of worker threads the session runs. */
GITC_API int gitc_session_threads(const gitc_session *session);

/* Time a session spent, summed since it was created or last reset. */
typedef struct gitc_session_stats {
    double encode_ms; /* vision encoder, projection and the decoder's image rows */
    int images;       /* images (samples) encoded */
    double decode_ms; /* decoder steps over text tokens and the LM head */
    int decode_steps; /* calls of the decoder over text tokens (one per generated token) */
} gitc_session_stats;

/* Copies the session's counters into *out. */
GITC_API void gitc_session_stats_get(const gitc_session *session, gitc_session_stats *out);
/* Zeroes the session's counters. */
GITC_API void gitc_session_stats_reset(gitc_session *session);

/* ------------------------------------------------------------------ */
/* Model levels (GitVisionModel, GitModel, GitForCausalLM forward)     */
/* ------------------------------------------------------------------ */

/* pixel_values of one sample: [frames, 3, H, W] float32, H = W = image_size,
 * frames = gitc_model_num_frames(model). Every function taking pixel_values
 * takes its length in floats too (`pixel_floats`), which must be exactly
 * gitc_model_pixel_floats(model): anything else is GITC_ERR_ARGUMENT, checked
 * before the buffer is read. */

/* Floats of one sample's pixel_values: frames * 3 * image_size^2, what every
 * function taking pixel_values reads; 0 for a NULL model. */
GITC_API size_t gitc_model_pixel_floats(const gitc_model *model);

/* Floats gitc_encode_image writes to vision_out for one sample:
 * frames * tokens_per_frame * vision_hidden_size; 0 for a NULL model. */
GITC_API size_t gitc_model_vision_floats(const gitc_model *model);

/* Floats gitc_encode_image writes to projection_out for one sample:
 * n_image_tokens * hidden_size; 0 for a NULL model. */
GITC_API size_t gitc_model_projection_floats(const gitc_model *model);

/* Floats gitc_forward writes to hidden_out for n_ids text tokens:
 * (n_image_tokens + n_ids) * hidden_size; 0 for a NULL model or n_ids outside
 * 1..max_position_embeddings. */
GITC_API size_t gitc_model_hidden_floats(const gitc_model *model, int n_ids);

/* Floats gitc_forward writes to logits_out for n_ids text tokens:
 * n_ids * vocab_size; 0 for a NULL model or n_ids outside 1..max_position_embeddings. */
GITC_API size_t gitc_model_logits_floats(const gitc_model *model, int n_ids);

/* Runs the vision encoder and the visual projection into the caller's buffers.
 * vision_out (may be NULL): [frames, tokens_per_frame, vision_hidden] after
 * post_layernorm, before temporal embeddings; it holds vision_capacity floats
 * (see gitc_model_vision_floats).
 * projection_out (may be NULL): [frames * tokens_per_frame, hidden], the
 * image tokens fed to the decoder (temporal embeddings included); it holds
 * projection_capacity floats (see gitc_model_projection_floats).
 * A buffer too small is GITC_ERR_ARGUMENT, checked before any work, and
 * nothing is written. */
GITC_API gitc_status gitc_encode_image(gitc_session *session, const float *pixel_values,
                                       size_t pixel_floats, float *vision_out, size_t vision_capacity,
                                       float *projection_out, size_t projection_capacity,
                                       gitc_error *err);

/* Full GitForCausalLM forward of one sample with T = n_ids text tokens (no
 * cache), into the caller's buffers.
 * hidden_out (may be NULL): [n_image_tokens + T, hidden] decoder output; it
 * holds hidden_capacity floats (see gitc_model_hidden_floats).
 * logits_out (may be NULL): [T, vocab] logits at the text positions; it holds
 * logits_capacity floats (see gitc_model_logits_floats).
 * loss_out (may be NULL): one float, the mean next-token cross-entropy of the
 * text (T >= 2).
 * A buffer too small is GITC_ERR_ARGUMENT, checked before any work, and
 * nothing is written. */
GITC_API gitc_status gitc_forward(gitc_session *session, const float *pixel_values, size_t pixel_floats,
                                  const int32_t *ids, int n_ids, float *hidden_out, size_t hidden_capacity, float *logits_out,
                                  size_t logits_capacity, float *loss_out, gitc_error *err);

/* ------------------------------------------------------------------ */
/* Generation                                                          */
/* ------------------------------------------------------------------ */

typedef enum gitc_early_stopping {
    GITC_EARLY_STOPPING_FALSE = 0,
    GITC_EARLY_STOPPING_TRUE = 1,
    GITC_EARLY_STOPPING_NEVER = 2
} gitc_early_stopping;

typedef struct gitc_generate_params {
    size_t size;          /* sizeof(gitc_generate_params), set by gitc_generate_params_init */
    int max_length;       /* text tokens including the prompt; default 20 */
    int max_new_tokens;   /* overrides max_length when > 0; default 0 */
    int min_length;       /* default 0 */
    int min_new_tokens;   /* default 0 */
    int num_beams;        /* default 1 */
    float length_penalty; /* default 1.0 */
    gitc_early_stopping early_stopping; /* default FALSE */
    int num_return_sequences;           /* default 1 */
    float repetition_penalty;           /* default 1.0 */
    int no_repeat_ngram_size;           /* default 0 */
    int do_sample;                      /* default 0 */
    float temperature;                  /* default 1.0 */
    int top_k;                          /* default 50 */
    float top_p;                        /* default 1.0 */
    uint64_t seed;                      /* default 0 */
    /* Banned token sequences: n_bad_words sequences, sequence i is
     * bad_words_ids[bad_words_offsets[i] .. bad_words_offsets[i+1]). */
    const int32_t *bad_words_ids;
    const int *bad_words_offsets;
    int n_bad_words;
} gitc_generate_params;

/* Fills `size` bytes of *params (sizeof(gitc_generate_params)) with the
 * defaults of transformers' GenerationConfig. */
GITC_API void gitc_generate_params_init(gitc_generate_params *params, size_t size);

/* The defaults, as a value. */
static inline gitc_generate_params gitc_generate_default_params(void)
{
    gitc_generate_params p;
    gitc_generate_params_init(&p, sizeof p);
    return p;
}

/* The most beams (and returned sequences) one input may use. */
#define GITC_MAX_BEAMS 64

/* Checks generation settings before any work: the ranges of every field, the
 * combinations generate supports (no beam sampling, num_return_sequences <=
 * num_beams), and, when `model` is not NULL, the lengths against its
 * max_position_embeddings and bad word ids against its vocabulary. With
 * n_prompt_tokens > 0 the prompt plus max_new_tokens must also fit. gitc_generate
 * runs the same check, so a caller can report a bad setting once, up front.
 * Returns GITC_OK or GITC_ERR_ARGUMENT / GITC_ERR_UNSUPPORTED with a message. */
GITC_API gitc_status gitc_generate_params_check(const gitc_generate_params *params,
                                                int n_prompt_tokens, const gitc_model *model,
                                                gitc_error *err);

/* Fills `size` bytes of *params (sizeof(gitc_generate_params)) with the
 * defaults updated from the model folder's generation_config.json (when it has
 * one); a NULL model gives the plain defaults. */
GITC_API void gitc_model_generate_params_init(const gitc_model *model, gitc_generate_params *params,
                                              size_t size);

/* The model's defaults, as a value. */
static inline gitc_generate_params gitc_model_generate_params(const gitc_model *model)
{
    gitc_generate_params p;
    gitc_model_generate_params_init(model, &p, sizeof p);
    return p;
}

/* One generated sequence. */
typedef struct gitc_sequence {
    int32_t *ids;  /* prompt + generated tokens (eos included when emitted) */
    int n_ids;
    int n_prompt;  /* prompt tokens at the start of ids */
    float score;   /* beam search: the sequence score transformers reports (sum of log-probs
                      over generated_len^length_penalty, eos counted); greedy and sampling: sum
                      of the log-probs of the chosen tokens after the logits processors */
    int stopped;   /* 1: ended with eos (finish_reason "stop"); 0: cut by the length limit ("length") */
} gitc_sequence;

/* Results: n_inputs * num_return_sequences sequences, grouped by input. */
typedef struct gitc_generation {
    gitc_sequence *sequences;
    int n_sequences;
} gitc_generation;

GITC_API void gitc_generation_free(gitc_generation *generation);

/* Generates for a batch of n_inputs samples. pixel_values[i] is sample i's
 * [frames, 3, H, W] input of pixel_floats floats (the same for every sample:
 * gitc_model_pixel_floats); prompts[i] (n_prompt[i] ids) its prompt, or NULL
 * (or prompts == NULL) for [CLS] alone. Each row keeps its own positions, so
 * a batched result equals the unbatched one. `out` is filled on success
 * (caller frees with gitc_generation_free). */
GITC_API gitc_status gitc_generate(gitc_session *session, const float *const *pixel_values,
                                   size_t pixel_floats, const int32_t *const *prompts, const int *n_prompt, int n_inputs,
                                   const gitc_generate_params *params, gitc_generation *out,
                                   gitc_error *err);

/* Rows one request decodes: num_beams for beam search, else num_return_sequences. */
GITC_API int gitc_generate_rows(const gitc_generate_params *params);

/* ---- Step API: continuous batching ----
 * A gitc_batch holds requests (one input each) on a session. Requests join at
 * any time; each gitc_batch_step advances every live row by one token in one
 * decoder pass, so greedy, sampling and beam rows of different requests share
 * the step. A beam-search request is a group of num_beams rows that reports
 * only when done. The result of a request does not depend on what else is in
 * the batch. A batch is used by one thread at a time, like its session, and
 * must be freed before its session. gitc_generate is a loop over this API. */

typedef struct gitc_batch gitc_batch;

/* Largest max_rows of a batch. */
#define GITC_BATCH_MAX_ROWS 4096

/* What one step did to one sequence (or, for beam search, to one request). */
typedef struct gitc_batch_event {
    int request;       /* the id gitc_batch_add gave */
    int sequence;      /* which returned sequence (0..num_return_sequences-1); -1 for beam search */
    int32_t token;     /* the token appended this step; -1 for beam search */
    int sequence_done; /* 1: the sequence ended this step */
    int stopped;       /* with sequence_done: 1 ended with eos ("stop"), 0 by the length limit ("length") */
    int request_done;  /* 1: every sequence of the request is done; collect it with gitc_batch_take */
} gitc_batch_event;

/* Creates an empty batch on a session that decodes up to max_rows rows
 * together (1..GITC_BATCH_MAX_ROWS). Caller frees with gitc_batch_free. */
GITC_API gitc_status gitc_batch_create(gitc_session *session, int max_rows, gitc_batch **out,
                                       gitc_error *err);

/* Frees the batch and every request still in it; NULL is fine. */
GITC_API void gitc_batch_free(gitc_batch *batch);

/* Adds a request: encodes pixel_values ([frames, 3, H, W], pixel_floats
 * floats as gitc_model_pixel_floats gives, copied into the image context) and runs the prompt (n_prompt ids, copied; NULL for [CLS]
 * alone; a one-token prompt without beams joins the next step's decoder
 * pass instead, so requests added together cost one pass). params may be NULL (the model's defaults); they are copied, bad
 * words included. *id receives the request's id. Fails with GITC_ERR_LIMIT,
 * changing nothing, when the batch has fewer free rows than
 * gitc_generate_rows(params). The first token comes with the next step. */
GITC_API gitc_status gitc_batch_add(gitc_batch *batch, const float *pixel_values, size_t pixel_floats,
                                    const int32_t *prompt, int n_prompt, const gitc_generate_params *params, int *id,
                                    gitc_error *err);

/* Advances every live row by one token. *events (borrowed, valid until the
 * next call on the batch) receives *n_events events, in the order the
 * requests were added; either may be NULL. The session's abort callback stops
 * it with GITC_ERR_ABORTED. After any error the requests' state is undefined:
 * cancel them (or free the batch). */
GITC_API gitc_status gitc_batch_step(gitc_batch *batch, const gitc_batch_event **events,
                                     int *n_events, gitc_error *err);

/* Rows decoding now (0: nothing left to step), and the batch's max_rows. */
GITC_API int gitc_batch_live_rows(const gitc_batch *batch);
GITC_API int gitc_batch_max_rows(const gitc_batch *batch);

/* Moves a finished request's sequences (best first for beam search) to `out`
 * (caller frees with gitc_generation_free) and removes it from the batch. */
GITC_API gitc_status gitc_batch_take(gitc_batch *batch, int id, gitc_generation *out, gitc_error *err);

/* Removes a request, decoding or finished, and frees its rows at once.
 * GITC_ERR_ARGUMENT when the batch has no such request. */
GITC_API gitc_status gitc_batch_cancel(gitc_batch *batch, int id);

/* ------------------------------------------------------------------ */
/* Benchmarks: what a machine and a model allow (gitc bench, inspect)  */
/* ------------------------------------------------------------------ */

/* Bytes of weights the model's matrix products read (as prepared at load:
 * panels, bf16 or int8 copies, or the mapped file data they use in place). */
GITC_API size_t gitc_model_weight_bytes(const gitc_model *model);
/* Of those, the bytes one decode step reads: the text decoder's matrices and
 * the LM head (a step streams all of them once, whatever the batch). */
GITC_API size_t gitc_model_decode_weight_bytes(const gitc_model *model);
/* Measures the float32 FMA throughput of the model's kernel set on the
 * session's threads for about `ms` milliseconds; returns GFLOP/s. */
GITC_API double gitc_session_peak_gflops(gitc_session *session, int ms);
/* Measures the streaming read rate of memory on the session's threads: the
 * best of three passes over a `bytes` buffer allocated as the prepared weights
 * are (huge pages where the system gives them); returns GB/s, 0 when the
 * buffer cannot be allocated. With bytes = gitc_model_decode_weight_bytes it
 * gives the bandwidth bound of a decode step. */
GITC_API double gitc_session_read_gbs(gitc_session *session, size_t bytes);

/* ------------------------------------------------------------------ */
/* High level: files in, text out                                      */
/* ------------------------------------------------------------------ */

/* Texts of the returned sequences, best first. */
typedef struct gitc_texts {
    char **texts;  /* n texts */
    float *scores; /* n sequence scores (see gitc_sequence.score) */
    int *stopped; /* n flags: 1 = the sequence ended with eos (finish_reason "stop"), 0 = cut by the length limit ("length") */
    int n;
} gitc_texts;

/* Releases the texts and zeroes the struct; NULL is fine. */
GITC_API void gitc_texts_free(gitc_texts *texts);

/* Describes one input: n_frames images (gitc_model_num_frames of them: 1 for
 * image models) go through the model's processor; with a question the prompt
 * is [CLS] + its tokens and the texts leave the question out. Returns the
 * params->num_return_sequences texts with their scores and stopped flags
 * (caller frees `out` with gitc_texts_free). */
GITC_API gitc_status gitc_describe(gitc_session *session, const gitc_image *frames, int n_frames,
                                   const char *question, const gitc_generate_params *params,
                                   gitc_texts *out, gitc_error *err);

/* gitc_describe for n_inputs inputs at once (images encoded in one pass, their
 * rows decoded together: faster per input than one call each). `frames` holds
 * n_inputs * gitc_model_num_frames images, input by input; out[i] (an array of
 * n_inputs, caller frees each with gitc_texts_free) receives input i's texts,
 * equal to what gitc_describe gives for it alone. On failure every out[i] is empty. */
GITC_API gitc_status gitc_describe_batch(gitc_session *session, const gitc_image *frames, int n_inputs,
                                         const char *question, const gitc_generate_params *params,
                                         gitc_texts *out, gitc_error *err);

/* Captions an image (question == NULL) or answers a question about it.
 * The image goes through the model's processor; the answer excludes the
 * echoed question. `*text` is allocated (caller frees with gitc_free). */
GITC_API gitc_status gitc_describe_image(gitc_session *session, const gitc_image *image,
                                         const char *question, const gitc_generate_params *params,
                                         char **text, gitc_error *err);

/* Captions a sequence of frames (frames == gitc_model_num_frames). Caller
 * frees *text with gitc_free. */
GITC_API gitc_status gitc_describe_frames(gitc_session *session, const gitc_image *frames, int n_frames,
                                          const gitc_generate_params *params, char **text, gitc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* GITC_H */
