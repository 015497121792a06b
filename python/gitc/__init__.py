"""gitc: Microsoft's GIT image-to-text model through libgitc (ctypes, no compiled extension).

    import gitc
    with gitc.Model("microsoft/git-base-coco") as model:      # or a folder, or None
        print(model.caption("photo.jpg"))                     # path, bytes, PIL image, numpy HWC uint8
        print(model.ask(image, "what is in the picture?", num_beams=3))

Generation keywords are named as transformers' generate(): max_length, max_new_tokens,
min_length, min_new_tokens, num_beams, do_sample, temperature, top_k, top_p,
repetition_penalty, no_repeat_ngram_size, length_penalty, early_stopping,
num_return_sequences, seed, bad_words_ids. Failures raise gitc.Error subclasses carrying
the library's message. gitc.dask captions files on a Dask cluster. gitc.train(data=..., out=...)
fine-tunes a model as `gitc train` does; gitc.Trainer steps over batches the caller builds.
"""
from ._lib import find_library
from ._model import (DEFAULT_MAX_LENGTH, GENERATE_KEYWORDS, Config, Generation, Model, Session,
                     default_model_dir, resolve_model)
from ._train import Dataset, Trainer, train
from .errors import (AbortedError, ArgumentError, Error, FormatError, IoError, LimitError,
                     OutOfMemoryError, ShapeError, UnsupportedError)

__version__ = "0.1.0"

__all__ = [
    "Model", "Session", "Generation", "Config", "Error", "IoError", "FormatError",
    "UnsupportedError", "ShapeError", "ArgumentError", "LimitError", "OutOfMemoryError",
    "AbortedError", "GENERATE_KEYWORDS", "DEFAULT_MAX_LENGTH", "default_model_dir",
    "resolve_model", "find_library", "train", "Trainer", "Dataset",
]
