"""ctypes bindings of libgitc (include/gitc.h): finding the library and the
structs and functions the package uses.

The structs mirror gitc.h field by field; python/tests/test_abi.py compares
their sizes and offsets with a C program built from the header, so a change
of gitc.h that is not carried here fails the tests instead of corrupting
memory. The params structs start with `size`: the library's *_params_init
functions fill them for ctypes.sizeof of the struct here, and refuse a size
they do not know. Results the library fills get spare room at the end.
"""
import ctypes
import ctypes.util
import os
import sys

# ---------------------------------------------------------------------------
# Finding libgitc
# ---------------------------------------------------------------------------

_NAMES = ("libgitc.so.0", "libgitc.so", "libgitc.dylib")


def _candidates():
    """Library paths in the order they are tried (GITC_LIBRARY aside)."""
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [
        here,  # copied beside the package
        os.path.join(here, "..", "..", "build"),  # source tree: python/gitc -> build/
        os.path.join(here, "..", "..", ".."),  # <prefix>/lib/python3/dist-packages/gitc -> <prefix>/lib
        os.path.join(sys.prefix, "lib"),
        os.path.join(sys.prefix, "local", "lib"),
    ]
    for d in dirs:
        for name in _NAMES:
            path = os.path.normpath(os.path.join(d, name))
            if os.path.isfile(path):
                yield path


def find_library():
    """The path (or loader name) of libgitc that load_library() would open."""
    env = os.environ.get("GITC_LIBRARY")
    if env:
        return env
    for path in _candidates():
        return path
    return ctypes.util.find_library("gitc")


def load_library():
    """Opens libgitc: $GITC_LIBRARY, beside the package, the source tree's
    build/, the install prefix, else the system loader. Raises ImportError
    naming every place looked at."""
    env = os.environ.get("GITC_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env)
        except OSError as e:
            raise ImportError(f"GITC_LIBRARY={env}: cannot load it: {e}") from None
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    for name in ("libgitc.so.0", ctypes.util.find_library("gitc")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            tried.append(f"{name} ({e})")
    raise ImportError(
        "libgitc not found: set GITC_LIBRARY to the path of libgitc.so, build it "
        "(cmake --build build) or install it; tried: " + "; ".join(tried or ["nothing found"])
    )


# ---------------------------------------------------------------------------
# Structs (gitc.h)
# ---------------------------------------------------------------------------

_SPARE = 256  # bytes of spare room after structs the library fills


class gitc_error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


class gitc_image(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("rgb", ctypes.POINTER(ctypes.c_uint8)),
    ]


class gitc_image_params(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("max_pixels", ctypes.c_uint64), ("exif_transpose", ctypes.c_int)]


class gitc_config(ctypes.Structure):
    _fields_ = [
        ("vocab_size", ctypes.c_int),
        ("hidden_size", ctypes.c_int),
        ("num_hidden_layers", ctypes.c_int),
        ("num_attention_heads", ctypes.c_int),
        ("intermediate_size", ctypes.c_int),
        ("max_position_embeddings", ctypes.c_int),
        ("layer_norm_eps", ctypes.c_double),
        ("bos_token_id", ctypes.c_int),
        ("eos_token_id", ctypes.c_int),
        ("pad_token_id", ctypes.c_int),
        ("num_image_with_embedding", ctypes.c_int),
        ("vision_hidden_size", ctypes.c_int),
        ("vision_intermediate_size", ctypes.c_int),
        ("vision_num_hidden_layers", ctypes.c_int),
        ("vision_num_attention_heads", ctypes.c_int),
        ("vision_image_size", ctypes.c_int),
        ("vision_patch_size", ctypes.c_int),
        ("vision_num_channels", ctypes.c_int),
        ("vision_layer_norm_eps", ctypes.c_double),
        ("image_tokens_per_frame", ctypes.c_int),
    ]


class gitc_session_params(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("n_threads", ctypes.c_int),
        ("abort_callback", ctypes.c_void_p),
        ("abort_user", ctypes.c_void_p),
    ]


class gitc_generate_params(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("max_length", ctypes.c_int),
        ("max_new_tokens", ctypes.c_int),
        ("min_length", ctypes.c_int),
        ("min_new_tokens", ctypes.c_int),
        ("num_beams", ctypes.c_int),
        ("length_penalty", ctypes.c_float),
        ("early_stopping", ctypes.c_int),
        ("num_return_sequences", ctypes.c_int),
        ("repetition_penalty", ctypes.c_float),
        ("no_repeat_ngram_size", ctypes.c_int),
        ("do_sample", ctypes.c_int),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int),
        ("top_p", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("bad_words_ids", ctypes.POINTER(ctypes.c_int32)),
        ("bad_words_offsets", ctypes.POINTER(ctypes.c_int)),
        ("n_bad_words", ctypes.c_int),
    ]


class gitc_sequence(ctypes.Structure):
    _fields_ = [
        ("ids", ctypes.POINTER(ctypes.c_int32)),
        ("n_ids", ctypes.c_int),
        ("n_prompt", ctypes.c_int),
        ("score", ctypes.c_float),
    ]


class gitc_generation(ctypes.Structure):
    _fields_ = [("sequences", ctypes.POINTER(gitc_sequence)), ("n_sequences", ctypes.c_int)]


class _generation_padded(ctypes.Structure):
    _fields_ = [("g", gitc_generation), ("spare", ctypes.c_uint8 * _SPARE)]


# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------

_P = ctypes.POINTER
_c = ctypes

# gitc_parameter_fn: int (*)(void *user, const char *name, int ndim, const int64_t *shape)
parameter_fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_int64))


def _bind(lib):
    """Declares argument and result types of the functions used."""
    err_p = _P(gitc_error)
    sigs = {
        "gitc_status_string": (_c.c_char_p, [_c.c_int]),
        "gitc_image_load": (_c.c_int, [_c.c_char_p, _P(gitc_image_params), _P(gitc_image), err_p]),
        "gitc_image_decode": (
            _c.c_int,
            [_c.c_void_p, _c.c_size_t, _c.c_char_p, _P(gitc_image_params), _P(gitc_image), err_p],
        ),
        "gitc_image_free": (None, [_P(gitc_image)]),
        "gitc_image_params_init": (None, [_P(gitc_image_params), _c.c_size_t]),
        "gitc_processor_output_size": (None, [_c.c_void_p, _P(_c.c_int), _P(_c.c_int)]),
        "gitc_processor_run": (_c.c_int, [_c.c_void_p, _P(gitc_image), _P(_c.c_float), _c.c_size_t, err_p]),
        "gitc_video_load": (
            _c.c_int,
            [_c.c_char_p, _c.c_int, _P(gitc_image_params), _P(gitc_image), _P(_c.c_int), err_p],
        ),
        "gitc_tokenizer_encode": (
            _c.c_int,
            [_c.c_void_p, _c.c_char_p, _c.c_size_t, _c.c_int, _P(_P(_c.c_int32)), _P(_c.c_size_t), err_p],
        ),
        "gitc_tokenizer_decode": (
            _c.c_int,
            [_c.c_void_p, _P(_c.c_int32), _c.c_size_t, _c.c_int, _c.c_int, _P(_c.c_void_p), err_p],
        ),
        "gitc_model_load": (_c.c_int, [_c.c_char_p, _c.c_void_p, _P(_c.c_void_p), err_p]),
        "gitc_model_free": (None, [_c.c_void_p]),
        "gitc_model_config": (_P(gitc_config), [_c.c_void_p]),
        "gitc_model_tokenizer": (_c.c_void_p, [_c.c_void_p]),
        "gitc_model_processor": (_c.c_void_p, [_c.c_void_p]),
        "gitc_model_num_frames": (_c.c_int, [_c.c_void_p]),
        "gitc_model_cpu_features": (_c.c_char_p, [_c.c_void_p]),
        "gitc_model_kernel_set": (_c.c_char_p, [_c.c_void_p, _c.c_int]),
        "gitc_session_params_init": (None, [_P(gitc_session_params), _c.c_size_t]),
        "gitc_session_create": (_c.c_int, [_c.c_void_p, _P(gitc_session_params), _P(_c.c_void_p), err_p]),
        "gitc_session_free": (None, [_c.c_void_p]),
        "gitc_model_generate_params_init": (None, [_c.c_void_p, _P(gitc_generate_params), _c.c_size_t]),
        "gitc_free": (None, [_c.c_void_p]),
        "gitc_config_from_json": (_c.c_int, [_c.c_char_p, _c.c_size_t, _c.c_char_p, _P(gitc_config), err_p]),
        "gitc_config_for_each_parameter": (_c.c_int, [_P(gitc_config), parameter_fn, _c.c_void_p]),
        "gitc_generation_free": (None, [_P(_generation_padded)]),
        "gitc_generate": (
            _c.c_int,
            [
                _c.c_void_p,
                _P(_P(_c.c_float)),
                _c.c_size_t,
                _P(_P(_c.c_int32)),
                _P(_c.c_int),
                _c.c_int,
                _P(gitc_generate_params),
                _P(_generation_padded),
                err_p,
            ],
        ),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def params(kind, model=None):
    """A gitc_<kind>_params struct ("image", "session" or "generate") with the
    library's defaults (the model's generation defaults when `model` is given)."""
    cls = {"image": gitc_image_params, "session": gitc_session_params, "generate": gitc_generate_params}[kind]
    p = cls()
    if kind == "generate":
        lib.gitc_model_generate_params_init(model, ctypes.byref(p), ctypes.sizeof(p))
    else:
        getattr(lib, f"gitc_{kind}_params_init")(ctypes.byref(p), ctypes.sizeof(p))
    return p


lib = load_library()
_bind(lib)
