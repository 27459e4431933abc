"""Switchboard: a contact-center routing engine on Temporal."""

__version__ = "0.2.0"
