"""The OCR engine comes from the package registry (issue 17): libtesseract from tesserocr's wheel
and the jpn / eng models from the tessdata.fast-* wheels, so `pip install -e .` alone reads scans."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot.forms import ocr


def test_the_engine_and_both_models_come_from_the_installed_wheels() -> None:
    prefix = Path(sys.prefix).resolve()
    assert "BOT_TESSERACT_LIB" not in os.environ and "TESSDATA_PREFIX" not in os.environ
    lib = Path(ocr.library_path()).resolve()
    assert lib.parent.name == "tesserocr.libs" and prefix in lib.parents, lib
    for lang in ("jpn", "eng"):
        folder = ocr.tessdata_dir(lang)
        assert folder is not None and prefix in Path(folder).resolve().parents, (lang, folder)
        assert ocr.available(lang), lang


def test_a_printed_code_is_read_by_the_wheel_engine() -> None:
    img = np.full((60, 360), 255, np.uint8)
    cv2.putText(img, "989490753", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3, cv2.LINE_AA)
    res = ocr.recognise(img, lang="eng", whitelist="0123456789", psm=ocr.PSM_SINGLE_LINE)
    assert res.text == "989490753" and res.conf > 0.5, (res.text, res.conf)
    assert all(0 <= s.box[0] < s.box[2] <= 360 for s in res.symbols)


def test_a_missing_model_is_named_with_the_package_that_brings_it(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # an empty folder: no model there
    monkeypatch.setattr(ocr, "_engines", {})
    with pytest.raises(ocr.OcrUnavailable, match=r"pip install tessdata\.fast-jpn"):
        ocr.recognise(np.full((40, 40), 255, np.uint8), lang="jpn")
