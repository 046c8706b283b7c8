"""The node: the only layer of trustlane that does I/O (CLI, HTTP, scheduler, storage)."""
