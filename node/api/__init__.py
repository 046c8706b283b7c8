"""The HTTP API: one blueprint per resource, RFC 9457 problem responses."""
