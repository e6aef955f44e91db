"""Tenants: who uses payhub and who may do what.

``stations``: the intermediary's stations and the Enti they serve, the Node's caller triple
checked, Stand-In probes. ``operators``: dashboard accounts (scrypt, throttling). ``api_keys``:
keys of Ente applications for the REST API. ``audit``: the trail of writes and of views of
personal data.
"""
