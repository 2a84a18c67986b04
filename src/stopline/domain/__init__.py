"""The pure rules of stopline: no I/O, no framework, nothing of the project but domain."""
