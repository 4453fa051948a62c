"""The pipeline a mail flows through once, a module per stage (bot/pipeline/processor.py
composes them):

    store.py     the raw mail recorded and committed before anything is done with it
    claim.py     taken into this process's hands; which mail is to blame when the bot fails
    read.py      parsed, first look, PDFs read in the reader processes (and read ahead)
    decision.py  facts gathered and the one decision taken (bot/decide), in one transaction
    act.py       what the decision does, in that transaction (outbox, ledger, vendor rows)
    quarantine.py  the clear outcome of a mail the bot cannot finish
    filing.py    the IMAP folder of each decision, and the record of the move
    outcome.py   what a mail's pass came to

Nothing is imported here: a stage is imported by its module (importing one stage, e.g. the
folder names, does not load the others).
"""
