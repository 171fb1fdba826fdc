"""Hostile submission import_crash: expect error: raises while the module is imported."""
raise RuntimeError("hostile: boom at import")
