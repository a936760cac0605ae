"""The one kind of error a search reports: a model, folder or file that cannot be used."""


class SearchError(Exception):
    """A model, folder or file that cannot be used; the message says what to do."""
