"""Embedding providers, one module each; ``vetor.models.registry`` names and loads them.

Each module imports only the interface (``vetor.models``), the standard library and its own
third-party client (the latter inside the provider, so it loads only when used). Callers
never import a provider directly: they ask ``vetor.models.get_embedder`` for one by name.
"""
