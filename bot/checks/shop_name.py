"""Warning SHOP_NAME_DIFFERS: the form's 店舗/施設名 and UNIS 店舗名 differ after normalisation."""

from __future__ import annotations

import re
import unicodedata

from bot.checks.base import Defect, Facts

SHOP_NAME_DIFFERS = "SHOP_NAME_DIFFERS"


def normalise_name(name: str) -> str:
    """NFKC, case-folded, without spaces and middle dots: 'カフェ　ＡＯＹＡＭＡ' == 'カフェAoyama'."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\s・･.,、。]", "", text)


def same_as_unis(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None or not form.fields.shop_name:
        return []
    unis_names = {line.shop_name for line in f.unis if line.shop_name}
    if not unis_names:
        return []
    mine = normalise_name(form.fields.shop_name)
    if any(normalise_name(n) == mine for n in unis_names):
        return []
    return [Defect(SHOP_NAME_DIFFERS, {"form": form.fields.shop_name, "unis": "、".join(sorted(unis_names))})]
