"""How ``--help`` reads: click's value names (TEXT, INTEGER, PATH, [json|table]) instead of
Typer's Python type tags (``<str>``, ``<bool>`` on every flag), and no ``[default: no-…]``
under a flag pair that is off unless given. Applied once, on import."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH", "bool": "BOOLEAN"}


def _value_name(param: Any, ctx: Any) -> str | None:
    if getattr(param, "is_flag", False):
        return None  # --x / --no-x: nothing to type
    if param.metavar is not None:
        return str(param.metavar)
    desc = param.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices or ()) + "]"
    bare = param.bare_type()
    repeated = bare.startswith("list[")
    bare = bare.removeprefix("list[").removesuffix("]")
    name = _NAMES.get(bare, bare.upper())
    return name + "..." if repeated else name


def _quiet_flag_default(init: Any) -> Any:
    def wrapped(self: TyperOption, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if self.is_flag and self.secondary_opts and self.default is False:
            self.show_default = False  # off is what a flag means when not given

    return wrapped


def apply() -> None:
    if getattr(TyperOption, "_vetor_style", False):
        return
    TyperOption.display_type_rich = _value_name  # type: ignore[method-assign,assignment]
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    TyperOption.__init__ = _quiet_flag_default(TyperOption.__init__)  # type: ignore[method-assign]
    TyperOption._vetor_style = True  # type: ignore[attr-defined]
