"""The one exception that fails a refresh on an unreadable input."""


class IngestError(Exception):
    """A file (or folder) that cannot be read at all; the message is one line
    naming the file and what is wrong."""
