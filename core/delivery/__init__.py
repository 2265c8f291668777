"""The delivery history without Django: file schema and normaliser, quality scoring, synthetic histories."""
