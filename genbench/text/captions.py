"""Captions made from templates, several phrasings per class: the text of the text-to-image benchmark.

Training sees the ``TRAIN`` templates only; evaluation asks for images with the ``HELD_OUT`` ones, so that
caption alignment measures following the meaning of a caption, not recalling its exact string. A digit
class has two names ("seven", "7"), used in turn by successive templates.
"""
from __future__ import annotations

TRAIN = ("a picture of a {}", "an image of the {}", "a {}", "a drawing of a {}", "a grayscale {}")
HELD_OUT = ("a photo of a {}", "this is a {}", "a small {}")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def class_names_for_captions(name: str) -> tuple[str, ...]:
    """The words a caption may call a class by: a digit by word and numeral, others by their lower-case name."""
    if name.isdigit() and len(name) == 1:
        return DIGIT_WORDS[int(name)], name
    return (name.lower(),)


def captions(class_names: tuple[str, ...], templates: tuple[str, ...]) -> list[list[str]]:
    """``[template][class]`` caption strings; template k uses the class's (k mod #names)-th name."""
    words = [class_names_for_captions(name) for name in class_names]
    return [[template.format(names[k % len(names)]) for names in words] for k, template in enumerate(templates)]
