"""Workflow code of runs recorded by earlier releases, kept so that they replay (see each module)."""
