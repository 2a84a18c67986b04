"""Reading uploaded opt-out files and writing export files: bytes and paths in, plain values out."""
