"""A mail's PDFs → form readings, inside the limits.

Each PDF is read in a reader process (:mod:`bot.forms.workers`) with its own deadline
(``pdf_seconds``) and the mail's deadline over all of them (``mail_seconds``); without a pool
(pure tests) the same readers run in this process. A reader that dies or overruns raises
:class:`~bot.forms.workers.ReaderFailed`: the pipeline counts that against the mail and quarantines it
when it happens again (`reader_attempts`, bot/pipeline/claim.py), so one mail can never stop the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot import forms
from bot.config.limits import Limits
from bot.forms.workers import ReaderPool, ReaderTimedOut
from bot.mail import Attachment

APPLICATION = "application"  # ご加入申込書
TERMINATION = "termination"  # 解約申請書


@dataclass(frozen=True)
class PdfReader:
    """How the pipeline reads PDFs: the shared password, the limits, and where (a pool or here)."""

    password: str
    limits: Limits
    pool: ReaderPool | None = None

    def read(self, pdfs: Sequence[Attachment], form: str) -> tuple[object, ...]:
        """One reading per PDF (FormReading or TerminationReading by `form`)."""
        fn = forms.read_form if form == APPLICATION else forms.read_termination_form
        deadline = time.monotonic() + self.limits.mail_seconds
        readings = []
        for attachment in pdfs[: self.limits.attachments]:
            if self.pool is None:
                readings.append(fn(attachment.data, password=self.password, limits=self.limits))
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReaderTimedOut(f"reading the mail's PDFs took over {self.limits.mail_seconds:g} s",
                                     limit="mail_seconds")
            per_pdf = min(self.limits.pdf_seconds, left)
            try:
                readings.append(self.pool.call(fn, attachment.data, password=self.password, limits=self.limits,
                                               timeout=per_pdf))
            except ReaderTimedOut as err:
                limit = "pdf_seconds" if per_pdf == self.limits.pdf_seconds else "mail_seconds"
                raise ReaderTimedOut(f"{attachment.filename or 'PDF'}: {err.detail}", limit=limit) from err
        return tuple(readings)
