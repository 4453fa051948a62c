"""The office console (`bot web`): a layer on top of the bot for 事務センター staff and admins.

One ASGI app (:mod:`bot.web.app`), one module per kind of page (:mod:`bot.web.views`), thin
views over query functions (:mod:`bot.web.queries`), Jinja2 templates with autoescape in
``templates/web/``, CSRF from a narrow middleware of our own (:mod:`bot.web.csrf`), users,
sessions and the login limit in :mod:`bot.web.users` and :mod:`bot.web.sessions`, every
login and action in the audit log (:mod:`bot.web.audit`).

This package imports nothing heavy at import time: a reader process unpickles
:mod:`bot.web.pdfpages` functions by reference and must not pull in the web stack.
Nothing in ``bot/`` below this package imports it.
"""
