"""Hostile submission syntax_error: expect error: the module does not parse."""
def broken(:
    pass
