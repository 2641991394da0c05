"""pytest plugin for rubrics (being written)."""
