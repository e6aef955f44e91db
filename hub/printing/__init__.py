"""Payment notices ("avviso di pagamento pagoPA"): notice data, QR and Poste Data Matrix
payloads and symbols, PDF rendering, and batches of notices.

Everything except ``lookup`` and ``batches`` is a pure function over the hub's models: it reads
attributes, never the database, so the web, the actors, the CLI and the benchmark share it.
"""
