"""bmembed-lab: a notebook workbench for BMEmbed (adapting embedding models with BM25 ranking
signals)."""

__version__ = "0.1.0"
