"""Turn a pydantic ``ValidationError`` into lines a user can act on: the key, what is wrong, what was
given (never for secrets) and the allowed values.

One formatter for every consumer: :func:`shared.config.load_or_exit` joins the lines into its single
``config error:`` line, ``thetawheel config check`` prints one per line, and the strategy's per-symbol
overrides reuse it for their nested keys.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

#: Key fragments whose values are never echoed back.
SECRET_KEY_PARTS = ("PASSWORD", "TOKEN", "SECRET")
#: Unknown keys are listed with every allowed key when a section has at most this many.
MAX_KEYS_LISTED = 24
#: The password of a URL (``postgresql://user:password@host/db``), never echoed back.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^@/\s]*(?=@)")
#: Error types of a number field given text (``delta_min = "0.15"`` in TOML).
_NUMBER_TYPES = ("float_type", "int_type")


def hide_url_password(text: str) -> str:
    """``text`` with the password of any URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***", text)


def non_utf8_lines(raw: bytes) -> list[tuple[int, str, int]]:
    """The lines of ``raw`` that are not UTF-8: ``(line number, the line decoded with replacement
    characters, the first bad byte)``. A UTF-8 sequence never contains a newline byte, so each line can be
    decoded on its own."""
    out = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            out.append((number, line.decode("utf-8", errors="replace"), line[err.start]))
    return out


def _field_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, Any]:
    """``(section model, field info or None)`` for the location ``loc`` inside ``model``."""
    section = model
    for part in loc[:-1]:
        info = section.model_fields.get(str(part)) if section is not None else None
        ann = info.annotation if info is not None else None
        section = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if section is None or not loc:
        return section, None
    return section, section.model_fields.get(str(loc[-1]))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def allowed_values(info: FieldInfo) -> str:
    """The allowed values of a field as text (``"1 to 65535"``, ``"'paper' or 'live'"``), or ``""``."""
    ann = info.annotation
    if get_origin(ann) is Literal:
        choices = [repr(a) for a in get_args(ann)]
        return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    if ann is bool:
        return "true or false"
    bounds: dict[str, Any] = {}
    for meta in info.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(meta, getattr(at, name.capitalize())):
                bounds[name] = getattr(meta, name)
    if "ge" in bounds and "le" in bounds:
        return f"{_number(bounds['ge'])} to {_number(bounds['le'])}"
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    return " and ".join(f"{words[name]} {_number(value)}" for name, value in bounds.items())


def _unknown_key(section: type[BaseModel] | None, key: str, top_level: bool) -> str:
    msg = "unknown key (not a thetawheel setting)"
    if section is None:
        return msg
    names = list(section.model_fields)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"{msg}; did you mean {close[0]}?"
    if len(names) <= MAX_KEYS_LISTED:
        return f"{msg}; allowed: {', '.join(names)}"
    return f"{msg}; the allowed keys are listed in .env.example" if top_level else msg


def problem_lines(err: ValidationError, model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """One line per problem: ``<prefix><key>: <reason> (got <value>) — allowed: <values>``.

    ``model`` (the validated class) lets the line name the allowed values and, for an unknown key,
    the closest known key. ``prefix`` qualifies the key (a file name, or ``overrides.SPY.puts.``).
    """
    lines = []
    for item in err.errors():
        loc = tuple(p for p in item["loc"] if p != "__root__")
        key = prefix + ".".join(str(p) for p in loc) if loc else prefix.rstrip().rstrip(":.")
        kind = item["type"]
        msg = item["msg"].removeprefix("Value error, ")
        section, info = _field_at(model, loc)
        if kind == "extra_forbidden":
            msg = _unknown_key(section, str(loc[-1]) if loc else "", top_level=len(loc) == 1)
        got = item.get("input")
        secret = any(part in key.upper() for part in SECRET_KEY_PARTS)
        if kind in _NUMBER_TYPES and isinstance(got, bool):
            msg = f"{msg}, not true or false"
        elif kind in _NUMBER_TYPES and isinstance(got, str):
            msg = f"{msg}; write the number without quotes"
        echo = "(got " not in msg and ", got " not in msg  # a validator's message may say it already
        if (
            echo
            and kind not in ("extra_forbidden", "missing")
            and not isinstance(got, dict | list)
            and not secret
        ):
            msg = f"{msg} (got {hide_url_password(repr(got))})"
        hint = allowed_values(info) if info is not None and kind != "extra_forbidden" else ""
        if hint and kind != "literal_error":
            msg = f"{msg} — allowed: {hint}"
        lines.append(f"{key}: {msg}" if key else msg)
    return lines
