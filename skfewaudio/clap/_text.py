"""Class explanations: default prompt templates and checks of user descriptions."""

from collections.abc import Mapping

import numpy as np

__all__ = ["DEFAULT_TEMPLATES", "label_text", "default_descriptions", "descriptions_for"]

# Eight sentences per class, as the paper's eight LLM-written explanations; these are
# plain prompts built from the label name only (the paper's "category name" row).
DEFAULT_TEMPLATES = (
    "This is a sound of {}.",
    "The sound of {}.",
    "A recording of {}.",
    "An audio clip of {}.",
    "{} can be heard.",
    "A sound made by {}.",
    "The noise of {}.",
    "Someone recorded the sound of {}.",
)


def label_text(label):
    """A readable class name: ``"church_bells"`` -> ``"church bells"``."""
    return " ".join(str(label).replace("_", " ").replace("-", " ").split())


def default_descriptions(labels, templates=DEFAULT_TEMPLATES):
    """Prompt-template descriptions for class labels.

    Parameters
    ----------
    labels : iterable of str or int
    templates : sequence of str
        Each with one ``{}`` for the class name.

    Returns
    -------
    descriptions : dict
        label -> list of ``len(templates)`` sentences.
    """
    return {label: [t.format(label_text(label)) for t in templates] for label in labels}


def _lookup(descriptions, label):
    if label in descriptions:
        return descriptions[label]
    by_text = {str(k): v for k, v in descriptions.items()}
    return by_text.get(str(label))


def descriptions_for(classes, class_descriptions):
    """The sentences of each class, in ``classes`` order, validated.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
    class_descriptions : mapping or None
        label -> list of sentences (a single string counts as one sentence);
        None gives :data:`DEFAULT_TEMPLATES` for every class.

    Returns
    -------
    sentences : list of list of str
    """
    if class_descriptions is None:
        defaults = default_descriptions(classes)
        return [defaults[c] for c in classes]
    if not isinstance(class_descriptions, Mapping):
        raise TypeError("class_descriptions must be a dict label -> list of sentences, "
                        f"got {type(class_descriptions).__name__}.")
    missing = [c for c in classes if _lookup(class_descriptions, c) is None]
    if missing:
        raise ValueError(
            f"class_descriptions has no entry for classes {np.asarray(missing).tolist()}; "
            f"it has keys {list(class_descriptions)[:20]}. Give every class a list of "
            "sentences, or use default_descriptions(labels) for prompt templates."
        )
    out = []
    for c in classes:
        sentences = _lookup(class_descriptions, c)
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        if not sentences:
            raise ValueError(f"class_descriptions[{c!r}] is empty; give at least one "
                             "sentence describing the class.")
        for s in sentences:
            if not isinstance(s, str) or not s.strip():
                raise ValueError(f"class_descriptions[{c!r}] contains {s!r}; every "
                                 "description must be a non-empty string.")
        out.append(sentences)
    return out
