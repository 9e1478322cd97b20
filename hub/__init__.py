"""connector-hub: sync multi-account B2B SaaS data into CRMs and engagement tools."""

__version__ = "0.1.0"
