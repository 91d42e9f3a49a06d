"""Reusable labeling functions, one module per kind of data; import and parametrise them."""
