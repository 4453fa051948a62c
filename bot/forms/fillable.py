"""Fillable (AcroForm) forms: values from the field tree, by the configured field names."""

from __future__ import annotations

from collections.abc import Mapping

import pikepdf

from bot.config.limits import DEFAULT, LimitExceeded
from bot.forms.normalise import (
    CHECK_METHOD_OPTIONS,
    LINE_KIND_OPTIONS,
    LINE_TYPE_OPTIONS,
    choice_value,
    customer_code_of,
    mail_local_of,
    truthy_button,
    unit_value,
    zip_or_phone,
)
from bot.forms.vocabulary import FIELD_NAMES


def acro_values(pdf: pikepdf.Pdf, *, max_nodes: int = DEFAULT.pdf_field_nodes) -> dict[str, object]:
    """Fully qualified field name -> value: str for text/choice/radio, Name str for buttons.

    Hierarchical names are joined with '.' (``parent.child``); values and field types are
    inherited from parents as the PDF spec says.  A button's value is its state name
    without the slash (``Yes``/``Off``); a field without /V maps to None.

    Each object of the tree is visited once: a tree that names the same kid twice per level
    (2^depth paths) or loops back on itself costs its size, not its paths; more than
    `max_nodes` nodes raises :class:`LimitExceeded`.
    """
    root = pdf.Root
    if "/AcroForm" not in root or "/Fields" not in root.AcroForm:
        return {}
    fields = root.AcroForm.Fields
    if not isinstance(fields, pikepdf.Array):
        return {}
    out: dict[str, object] = {}
    seen: set[tuple[int, int]] = set()
    visited = 0

    def walk(field: pikepdf.Object, prefix: str, inherited_v: object, depth: int) -> None:
        nonlocal visited
        if depth > 32 or not isinstance(field, pikepdf.Dictionary):
            return
        if field.is_indirect:
            if field.objgen in seen:
                return
            seen.add(field.objgen)
        visited += 1
        if visited > max_nodes:
            raise LimitExceeded("pdf_field_nodes", f"the AcroForm field tree has over {max_nodes:,} nodes")
        partial = field.get("/T")
        name = prefix if partial is None else (f"{prefix}.{partial}" if prefix else str(partial))
        value = field.get("/V", inherited_v)
        kids = field.get("/Kids")
        if not isinstance(kids, pikepdf.Array):
            kids = None
        named_kids = [k for k in kids if isinstance(k, pikepdf.Dictionary) and "/T" in k] if kids else []
        if named_kids:
            for kid in named_kids:
                walk(kid, name, value, depth + 1)
            return
        if not name:
            return
        if value is None and str(field.get("/FT", "")) == "/Btn":
            # Some writers set only the widget's appearance state, not /V.
            states = [field.get("/AS")] + [k.get("/AS") for k in (kids or []) if isinstance(k, pikepdf.Dictionary)]
            on = [s for s in states if isinstance(s, pikepdf.Name) and s != pikepdf.Name.Off]
            value = on[0] if on else None
        out[name] = _acro_scalar(value)

    for field in fields:
        walk(field, "", None, 0)
    return out


def _acro_scalar(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, pikepdf.Name):
        return str(value)[1:]
    if isinstance(value, pikepdf.String):
        return str(value)
    if isinstance(value, pikepdf.Array):
        return ", ".join(str(_acro_scalar(v)) for v in value)
    return str(value)




def from_acro(acro: Mapping[str, object], names: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    values: dict[str, object] = {}
    notes: list[str] = []
    for field in FIELD_NAMES:
        pdf_name = names.get(field, field)
        if pdf_name not in acro:
            continue
        raw = acro[pdf_name]
        if field == "plus":
            values["plus"] = truthy_button(raw)
            continue
        text = None if raw is None else str(raw).strip()
        if field in {"line_kind", "line_type", "check_method"}:
            options = {"line_kind": LINE_KIND_OPTIONS, "line_type": LINE_TYPE_OPTIONS,
                       "check_method": CHECK_METHOD_OPTIONS}[field]
            choice, note = choice_value(text, options)
            if note:
                notes.append(f"{field}: {note}")
            values[field] = choice
        elif field.endswith(("_zip", "_phone")):
            values[field] = zip_or_phone(text if text is not None else "")
        elif field == "customer_code":
            values[field] = customer_code_of(text if text is not None else "")
        elif field == "mail_local":
            values[field] = mail_local_of(text if text is not None else "")
        elif field in {"parent_units", "child_units"}:
            values[field] = unit_value(text or "")
        else:
            values[field] = text if text is not None else ""  # ssid stays raw
    return values, notes
