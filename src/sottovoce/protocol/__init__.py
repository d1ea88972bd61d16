"""Sans-I/O engines for one-to-one messaging: PQXDH, Double Ratchet, wire formats."""
