"""Data-identifier signature packs (YAML). Loaded by ``detectors.catalogue``; no code lives here."""
