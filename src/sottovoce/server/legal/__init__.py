"""Lawful requests answered with the information that exists (docs/legal.md).

Authorities and their signed documents (``authorities``, ``documents``), the
checks a request must pass (``verification``), what each process can compel
(``compellability``), the whitelist of disclosable fields (``fields``), the
signed package and its HTML rendering (``package``, ``rendering``), the
hash-chained audit log (``audit``), the transparency report (``report``), and
the desk that runs a request through all of them (``desk``).
"""
