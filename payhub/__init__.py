"""payhub: the composition root. Wires hub/, actors/, soap/, web/ and sla_monitor/ together."""
