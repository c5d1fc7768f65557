"""Pure NumPy engine: the article's network, generalised. Imports only NumPy and the stdlib."""
