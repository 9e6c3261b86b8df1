"""Stores, datasets and normalisation: how geogen keeps data on disk and streams it."""
