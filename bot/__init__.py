"""USEN SPOT office bot: reads the usen_spot mailbox and does the work of 事務センター 開業支援G."""

__version__ = "0.1.0"
