"""`nls --daemon`: the owning process, its socket API, the attached client, the wire format."""
